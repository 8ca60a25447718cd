package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"
)

func cmdEarnings(ctx context.Context, e *env) error {
	n, err := openReader(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	since := time.Now().Add(-e.cfg.since)
	t, err := n.DB.Totals(ctx, since)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "earnings since %s: %d sats (received %d, change returned %d; mint fees: %d paid by us, %d paid by buyers in their tokens)\n",
		since.UTC().Format(time.DateTime), t.Net(), t.Earned, t.Change, t.Fees, t.ReceiveFees)
	for r, v := range t.ByResource {
		fmt.Fprintf(e.stdout, "  %-10s %d sats\n", r, v)
	}
	if t.Unconfirmed > 0 || t.Lost > 0 {
		fmt.Fprintf(e.stdout, "accepted offline: %d sats not yet swapped at the mint; %d sats lost (refused by the mint when swapped)\n", t.Unconfirmed, t.Lost)
	}
	return nil
}

func cmdStatus(ctx context.Context, e *env) error {
	n, err := openReader(ctx, e)
	if err != nil {
		return err
	}
	defer n.Close()
	fmt.Fprintf(e.stdout, "pubkey   %s\nrelays   %v\n", n.Key.Pubkey, e.cfg.node.Relays)
	if q, err := n.DB.QueuedCount(ctx); err == nil && q > 0 {
		fmt.Fprintf(e.stdout, "queued   %d events (receipts, attestations, SafeBox entries) wait for a relay\n", q)
	}
	if n.Wallet != nil {
		bal, err := n.Wallet.Balance(ctx)
		if err != nil {
			return err
		}
		spent, err := n.Budget().SpentToday(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "balance  %d sats (spent today %d of %d)\n", bal, spent, e.cfg.node.BudgetPerDay)
		if exp, err := n.Wallet.OfflineExposure(ctx); err == nil {
			for m, sats := range exp {
				fmt.Fprintf(e.stdout, "pending  %d sats received in tokens of %s, not confirmed by that mint yet (offline limit %d)\n", sats, m, e.cfg.node.OfflineLimit)
			}
		}
	} else {
		fmt.Fprintln(e.stdout, "balance  no mint configured (--mint)")
	}
	t, err := n.DB.Totals(ctx, time.Time{})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "ledger   spent %d, refunded %d, earned %d, change returned %d, lost %d sats\n", t.Spent, t.Refunded, t.Earned, t.Change, t.Lost)
	fmt.Fprintf(e.stdout, "payments pending %d sats (sent, not yet seen redeemed; taken back automatically if never redeemed), reclaimed %d sats\n", t.Pending, t.Reclaimed)
	ss, err := n.DB.Sessions(ctx, 20)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSESSION\tROLE\tRESOURCE\tCOUNTERPARTY\tPAID msat\tDELIVERED\tSTATE\tUPDATED")
	for _, s := range ss {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", s.ID[:12], s.Role, s.Resource, s.Counterparty[:12], s.PaidMsat, s.Delivered, s.State, s.UpdatedAt.UTC().Format(time.DateTime))
	}
	ps, err := n.DB.Providers(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(tw, "\nPROVIDER\tLATENCY ms\tOK\tFAILED\tSEEN")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", p.Pubkey[:12], p.LatencyMs, p.OK, p.Failed, p.UpdatedAt.UTC().Format(time.DateTime))
	}
	return tw.Flush()
}
