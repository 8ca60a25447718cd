package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/nwc"
)

// Lightning through NWC: the owner's Lightning wallet, reached over NIP-47
// with a nostr+walletconnect:// URI, funds the agent's Cashu wallet (a
// NUT-04 mint quote whose invoice the owner's wallet pays) and takes
// withdrawals (an invoice the owner's wallet makes, paid by a NUT-05
// melt). The URI holds a secret: it comes from a 0600 file (--nwc-file)
// or SOVMESH_NWC, never from a flag value, and is never logged or put in
// an error.

// nwcEnv is the environment variable holding the URI itself.
const nwcEnv = "SOVMESH_NWC"

var (
	// ErrNoNWC: no NWC connection is configured.
	ErrNoNWC = errors.New("no NWC connection: set --nwc-file FILE (mode 0600) or " + nwcEnv)
	// ErrNWCFileMode: the NWC file is readable by others than its owner.
	ErrNWCFileMode = errors.New("readable by group or others (it holds a secret): chmod 600 it")
	// ErrNWCMethods: the NWC connection does not allow a method the move needs.
	ErrNWCMethods = errors.New("the NWC connection does not allow")
	// ErrTopUpBudget: an NWC top-up would pass the day's budget.
	ErrTopUpBudget = errors.New("NWC top-up over --budget-per-day")
)

// nwcConnection reads the owner's NWC URI: --nwc-file first, then
// SOVMESH_NWC. Errors name the source, never the URI.
func nwcConnection(c *config) (nwc.URI, error) {
	raw, src := c.nwcURI, nwcEnv
	if strings.Contains(c.nwcFile, "://") || strings.Contains(c.nwcFile, "walletconnect") {
		// The URI given as the flag's value: not echoed.
		return nwc.URI{}, errors.New("nwc-file takes the name of a file holding the URI, not the URI (a flag value is not secret)")
	}
	if c.nwcFile != "" {
		src = "nwc-file " + c.nwcFile
		fi, err := os.Stat(c.nwcFile)
		if err != nil {
			return nwc.URI{}, fmt.Errorf("nwc-file: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nwc.URI{}, fmt.Errorf("%s: mode %04o: %w", src, fi.Mode().Perm(), ErrNWCFileMode)
		}
		b, err := os.ReadFile(c.nwcFile)
		if err != nil {
			return nwc.URI{}, fmt.Errorf("nwc-file: %w", err)
		}
		raw = string(b)
	}
	if raw == "" {
		return nwc.URI{}, ErrNoNWC
	}
	u, err := nwc.ParseURI(raw)
	if err != nil {
		return nwc.URI{}, fmt.Errorf("%s: %w", src, err)
	}
	return u, nil
}

// ownerWallet connects to the owner's NWC wallet service, for the NIP-47
// methods a move needs: when the wallet answers get_info, a connection
// whose methods lack one of them is refused here (ErrNWCMethods), before
// the mint is asked for a quote; a wallet that does not answer get_info,
// or lists no methods, is used as it is.
func ownerWallet(ctx context.Context, c *config, n *agentd.Node, w *cashu.Wallet, need ...string) (*nwc.Client, error) {
	u, err := nwcConnection(c)
	if err != nil {
		return nil, err
	}
	cl, err := nwc.Connect(ctx, u, nwc.ClientOptions{Network: network(w.Mints()[0])})
	if err != nil {
		return nil, err
	}
	ictx, cancel := context.WithTimeout(ctx, nwcOptionalWait)
	info, err := cl.GetInfo(ictx)
	cancel()
	if err != nil {
		n.Log.Debug("nwc wallet did not answer get_info", "wallet", u.Redacted(), "err", err)
	} else if missing := missingMethods(info.Methods, need); len(info.Methods) > 0 && len(missing) > 0 {
		cl.Close()
		return nil, fmt.Errorf("%w: %s (it allows %s); make a connection that allows them", ErrNWCMethods, strings.Join(missing, ", "), strings.Join(info.Methods, ", "))
	}
	n.Log.Info("nwc wallet connected", "wallet", u.Redacted())
	return cl, nil
}

// nwcOptionalWait bounds the wait for the owner's wallet's get_info and
// get_balance, which agentd can do without: a wallet that never answers
// them does not hold up a move by the client's whole request timeout.
const nwcOptionalWait = 5 * time.Second

// missingMethods returns the methods of need that have is missing.
func missingMethods(have, need []string) []string {
	var out []string
	for _, m := range need {
		if !slices.Contains(have, m) {
			out = append(out, m)
		}
	}
	return out
}

// cmdWalletNWC runs `wallet fund-nwc SATS` and `wallet withdraw-nwc SATS`;
// the amount and the connection are checked before the node is opened.
func cmdWalletNWC(ctx context.Context, e *env) error {
	if len(e.args) != 2 {
		return usageError("wallet " + e.args[0] + " SATS")
	}
	sats, err := strconv.ParseUint(e.args[1], 10, 64)
	if err != nil || sats == 0 {
		return usageError("amount must be a positive number of sats")
	}
	if _, err := nwcConnection(&e.cfg); err != nil {
		return err
	}
	n, err := openNode(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	w, err := n.NeedWallet()
	if err != nil {
		return err
	}
	need := "pay_invoice" // the owner's wallet pays the mint's quote
	if e.args[0] == "withdraw-nwc" {
		need = "make_invoice" // it makes the invoice the agent pays
	}
	cl, err := ownerWallet(ctx, &e.cfg, n, w, need)
	if err != nil {
		return err
	}
	defer cl.Close()
	if e.args[0] == "fund-nwc" {
		got, err := nwc.Fund(ctx, w, cl, sats, nwcMove(&e.cfg, n, w))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "funded %d sats from the NWC wallet\n", got)
	} else {
		p, err := nwc.Withdraw(ctx, w, cl, sats, nwcMove(&e.cfg, n, w))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "withdrew %d sats to the NWC wallet (fee %d)\n", p.Amount, p.Fee)
	}
	// The owner's side too, where the connection may read it.
	bctx, cancel := context.WithTimeout(ctx, nwcOptionalWait)
	defer cancel()
	if msat, err := cl.GetBalance(bctx); err == nil {
		fmt.Fprintf(e.stdout, "NWC wallet balance %d sats\n", msat/1000)
	} else {
		n.Log.Debug("nwc wallet balance not read", "err", err)
	}
	return printBalance(ctx, e.stdout, w)
}

func nwcMove(c *config, n *agentd.Node, w *cashu.Wallet) nwc.MoveOptions {
	return nwc.MoveOptions{Network: network(w.Mints()[0]), Logger: n.Log}
}

func printBalance(ctx context.Context, out io.Writer, w *cashu.Wallet) error {
	bal, err := w.Balance(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "balance %d sats\n", bal)
	return nil
}

// topUpEvery is how often a daemon checks its balance for an NWC top-up.
const topUpEvery = 30 * time.Second

// topUp funds --nwc-topup-amount from the owner's wallet when the balance
// at the first mint is below --nwc-topup-below. Within the day's budget:
// the agent may spend --budget-per-day less what it spent today, so a
// top-up that would raise the balance past that is refused
// (ErrTopUpBudget), and the owner's wallet never pays more in a day than
// the agent may spend in it. It returns the sats funded (0: none needed).
func topUp(ctx context.Context, c *config, n *agentd.Node, w *cashu.Wallet, cl *nwc.Client) (uint64, error) {
	bal, err := w.MintBalance(ctx, w.Mints()[0])
	if err != nil || bal >= c.topupBelow {
		return 0, err
	}
	if per := c.node.BudgetPerDay; per > 0 {
		spent, err := n.Budget().SpentToday(ctx)
		if err != nil {
			return 0, err
		}
		if spent+bal+c.topupAmount > per {
			return 0, fmt.Errorf("%w: balance %d + top-up %d + spent today %d > %d", ErrTopUpBudget, bal, c.topupAmount, spent, per)
		}
	}
	return nwc.Fund(ctx, w, cl, c.topupAmount, nwcMove(c, n, w))
}

// startTopUp runs topUp at once and every topUpEvery, in a goroutine that
// ends with ctx, when --nwc-topup-below is set; the returned stop ends it
// early and waits for it. Without a connection it fails at once.
func startTopUp(ctx context.Context, e *env, n *agentd.Node) (stop func(), err error) {
	if e.cfg.topupBelow == 0 {
		return func() {}, nil
	}
	w, err := n.NeedWallet()
	if err != nil {
		return nil, err
	}
	cl, err := ownerWallet(ctx, &e.cfg, n, w, "pay_invoice")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(topUpEvery)
		defer t.Stop()
		for {
			got, err := topUp(ctx, &e.cfg, n, w, cl)
			switch {
			case err != nil && ctx.Err() == nil:
				n.Log.Warn("nwc top-up refused", "below", e.cfg.topupBelow, "amount", e.cfg.topupAmount, "err", err)
			case got > 0:
				n.Log.Info("nwc top-up", "sats", got)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
		cl.Close()
	}, nil
}
