package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/buyer"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/journal"
)

func cmdWallet(ctx context.Context, e *env) error {
	if len(e.args) == 0 {
		return usageError("wallet: balance | receive TOKEN | send SATS | deposit SATS | withdraw BOLT11 | fund-nwc SATS | withdraw-nwc SATS | rebalance SATS FROM TO | settle | mint-moved OLD NEW | restore | nwc [connections | revoke CLIENT]")
	}
	if e.args[0] == "fund-nwc" || e.args[0] == "withdraw-nwc" {
		return cmdWalletNWC(ctx, e)
	}
	// balance and the NWC connection list and revoke work beside a daemon
	// that owns the wallet (a running `wallet nwc` among them): they do not
	// take the data directory's lock or resume its payments.
	readOnly := e.args[0] == "balance" || (e.args[0] == "nwc" && len(e.args) > 1)
	n, err := open(ctx, e, readOnly)
	if err != nil {
		return err
	}
	defer n.Close()
	w, err := n.NeedWallet()
	if err != nil {
		return err
	}
	sats := func() (uint64, error) {
		if len(e.args) != 2 {
			return 0, usageError("wallet " + e.args[0] + " SATS")
		}
		v, err := strconv.ParseUint(e.args[1], 10, 64)
		if err != nil || v == 0 {
			return 0, usageError("amount must be a positive number of sats")
		}
		return v, nil
	}
	switch e.args[0] {
	case "balance":
		bal, err := w.Balance(ctx)
		if err != nil {
			return err
		}
		spent, _ := n.Budget().SpentToday(ctx)
		fmt.Fprintf(e.stdout, "%d sats\n", bal)
		for _, m := range w.Mints() {
			mb, _ := w.MintBalance(ctx, m)
			fmt.Fprintf(e.stdout, "  %s: %d sats\n", m, mb)
		}
		fmt.Fprintf(e.stdout, "spent today: %d of %d sats budget\n", spent, e.cfg.node.BudgetPerDay)
		return nil
	case "receive":
		if len(e.args) != 2 {
			return usageError("wallet receive TOKEN")
		}
		r, err := w.Receive(ctx, strings.TrimSpace(e.args[1]), cashu.ReceiveOptions{})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "received %d sats (fee %d)\n", r.Amount, r.Value-r.Amount)
		return nil
	case "send":
		v, err := sats()
		if err != nil {
			return err
		}
		s, err := w.Send(ctx, v, cashu.SendOptions{IncludeFees: true})
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, s.Token)
		fmt.Fprintf(e.stderr, "agentd: token of %d sats for the payee (op %d, mint fees %d); give it to the payee\n", s.Amount, s.OpID, s.Fee)
		return nil
	case "deposit":
		v, err := sats()
		if err != nil {
			return err
		}
		q, err := w.RequestMint(ctx, "", v)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, q.Invoice)
		fmt.Fprintf(e.stderr, "agentd: pay this invoice; waiting (Ctrl-C to stop; a paid quote is claimed on the next start)\n")
		for {
			got, err := w.ClaimMint(ctx, q.OpID)
			if err == nil {
				fmt.Fprintf(e.stdout, "deposited %d sats\n", got)
				return nil
			}
			if !errors.Is(err, cashu.ErrQuoteUnpaid) {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(2 * time.Second):
			}
		}
	case "withdraw":
		if len(e.args) != 2 {
			return usageError("wallet withdraw BOLT11")
		}
		p, err := w.PayInvoice(ctx, e.args[1], cashu.PayOptions{Network: network(w.Mints()[0])})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "paid %d sats (fee %d)\n", p.Amount, p.Fee)
		return nil
	case "mint-moved":
		if len(e.args) != 3 {
			return usageError("wallet mint-moved OLD-URL NEW-URL")
		}
		moved, err := w.MoveMint(ctx, e.args[1], e.args[2])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "moved %d sats from %s to %s (same keysets)\n", moved, e.args[1], e.args[2])
		return nil
	case "rebalance":
		return walletRebalance(ctx, e, w)
	case "restore":
		return restoreWallet(ctx, e, w)
	case "settle":
		return settleWallet(ctx, e, n)
	case "nwc":
		return walletNWCService(ctx, e, n, w)
	}
	return usageError("wallet: unknown subcommand " + e.args[0])
}

// restoreWallet brings back the wallet's ecash from its mints (NUT-13
// secrets derived from the agent key, NUT-09 restore) and prints what each
// mint gave back.
func restoreWallet(ctx context.Context, e *env, w *cashu.Wallet) error {
	reps, err := w.Restore(ctx)
	for _, r := range reps {
		if r.Err != nil {
			fmt.Fprintf(e.stdout, "  %s: not restored: %v\n", r.Mint, r.Err)
			continue
		}
		fmt.Fprintf(e.stdout, "  %s: restored %d sats (%d proofs)\n", r.Mint, r.Restored, r.Proofs)
	}
	bal, berr := w.Balance(ctx)
	if berr != nil {
		return errors.Join(err, berr)
	}
	fmt.Fprintf(e.stdout, "balance %d sats\n", bal)
	return err
}

// network is the Lightning network of a mint's invoices: the dev mint on
// loopback issues signet invoices (TEST MONEY); others are mainnet.
func network(mint string) string {
	if strings.HasPrefix(mint, "http://127.0.0.1") || strings.HasPrefix(mint, "http://localhost") {
		return "signet"
	}
	return "bitcoin"
}

// settleWallet finishes what payments it can without a daemon: opening the
// node already resumed the open ops and reclaimed the market payments
// unredeemed past --reclaim-grace; it collects the change notes providers
// sent (refunds of closed sessions' credit, a completion's change: the
// collector a buying daemon runs) and settles the receipts accepted
// offline, then prints what is still open. It fails while anything is.
func settleWallet(ctx context.Context, e *env, n *agentd.Node) error {
	got, err := buyer.NewChangeCollector(n).Collect(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "agentd: change notes not collected: %v\n", err)
	}
	if got > 0 {
		fmt.Fprintf(e.stdout, "collected %d sats of change from the relays\n", got)
	}
	if _, err := n.Wallet.SettleOffline(ctx); err != nil {
		fmt.Fprintf(e.stderr, "agentd: offline receipts not all settled: %v\n", err)
	}
	open, err := n.Wallet.Journal().List(ctx, journal.StatePrepared, journal.StateQueued, journal.StateSent)
	if err != nil {
		return err
	}
	out, err := n.DB.Outstanding(ctx)
	if err != nil {
		return err
	}
	var pending, sent uint64
	for _, op := range open {
		if op.State != journal.StateSent {
			pending++
			fmt.Fprintf(e.stdout, "  op %d: %s of %d sats %s\n", op.ID, op.Kind, op.Amount, op.State)
		} else if until, ok := cashu.LockedUntil(op, time.Now()); ok && out[op.ID] {
			// Locked to its payee (a session's refund, a relay top-up):
			// still out, but only the payee can spend it before the lock
			// lapses; reclaimed after that if it never does.
			sent++
			fmt.Fprintf(e.stdout, "  op %d: payment of %d sats locked to its payee until %s, not redeemed yet (reclaimed after that)\n", op.ID, op.Amount, until.UTC().Format(time.RFC3339))
		} else if out[op.ID] {
			sent++
			fmt.Fprintf(e.stdout, "  op %d: payment of %d sats not redeemed yet (reclaimed %v after it was sent)\n", op.ID, op.Amount, e.cfg.node.ReclaimGrace)
		}
	}
	bal, err := n.Wallet.Balance(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "balance %d sats; %d operations open, %d market payments out\n", bal, pending, sent)
	if pending+sent > 0 {
		return fmt.Errorf("%d operations open and %d market payments out: run settle again later", pending, sent)
	}
	return nil
}
