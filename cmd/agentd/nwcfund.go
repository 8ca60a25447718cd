package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

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
	// ErrTopUpBudget: an NWC top-up would pass the day's budget.
	ErrTopUpBudget = errors.New("NWC top-up over --budget-per-day")
)

// nwcConnection reads the owner's NWC URI: --nwc-file first, then
// SOVMESH_NWC. Errors name the source, never the URI.
func nwcConnection(c *config) (nwc.URI, error) {
	raw, src := c.nwcURI, nwcEnv
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

// ownerWallet connects to the owner's NWC wallet service.
func ownerWallet(ctx context.Context, c *config, n *agentd.Node, w *cashu.Wallet) (*nwc.Client, error) {
	u, err := nwcConnection(c)
	if err != nil {
		return nil, err
	}
	cl, err := nwc.Connect(ctx, u, nwc.ClientOptions{Network: network(w.Mints()[0])})
	if err != nil {
		return nil, err
	}
	n.Log.Info("nwc wallet connected", "wallet", u.Redacted())
	return cl, nil
}

// walletNWC runs `wallet fund-nwc SATS` and `wallet withdraw-nwc SATS`.
func walletNWC(ctx context.Context, e *env, n *agentd.Node, w *cashu.Wallet, sub string, sats uint64) error {
	cl, err := ownerWallet(ctx, &e.cfg, n, w)
	if err != nil {
		return err
	}
	defer cl.Close()
	switch sub {
	case "fund-nwc":
		got, err := nwc.Fund(ctx, w, cl, sats, nwcMove(e, n, w))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "funded %d sats from the NWC wallet\n", got)
	default:
		p, err := nwc.Withdraw(ctx, w, cl, sats, nwcMove(e, n, w))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "withdrew %d sats to the NWC wallet (fee %d)\n", p.Amount, p.Fee)
	}
	return printBalance(ctx, e.stdout, w)
}

func nwcMove(e *env, n *agentd.Node, w *cashu.Wallet) nwc.MoveOptions {
	return nwc.MoveOptions{Network: network(w.Mints()[0]), StepHook: e.cfg.node.StepHook, Logger: n.Log}
}

func printBalance(ctx context.Context, out io.Writer, w *cashu.Wallet) error {
	bal, err := w.Balance(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "balance %d sats\n", bal)
	return nil
}

// checkTopUp checks the top-up settings.
func (c *config) checkTopUp() error {
	if c.topupBelow == 0 {
		return nil
	}
	if c.topupAmount == 0 {
		return errors.New("nwc-topup-below needs --nwc-topup-amount")
	}
	if b := c.node.BudgetPerDay; b > 0 && c.topupAmount > b {
		return fmt.Errorf("nwc-topup-amount %d: more than --budget-per-day %d", c.topupAmount, b)
	}
	return nil
}
