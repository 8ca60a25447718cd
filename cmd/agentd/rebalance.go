package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/sovmesh/sovmesh/market/pay/bolt11"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
)

// walletRebalance runs `wallet rebalance SATS FROM TO`: it moves SATS of
// ecash from mint FROM to mint TO over Lightning, a mint quote at TO paid
// by a melt at FROM (cashu.Wallet.MintPaidBy: journaled, resumed after a
// crash, dropped when the melt fails). The melt counts against the
// budgets, as any Lightning payment.
func walletRebalance(ctx context.Context, e *env, w *cashu.Wallet) error {
	if len(e.args) != 4 {
		return usageError("wallet rebalance SATS FROM-MINT TO-MINT")
	}
	sats, err := strconv.ParseUint(e.args[1], 10, 64)
	if err != nil || sats == 0 {
		return usageError("amount must be a positive number of sats")
	}
	var mints [2]string
	for i, m := range e.args[2:] {
		if mints[i], err = cashu.NormalizeMintURL(m); err != nil || !w.Allowed(mints[i]) {
			return usageError(fmt.Sprintf("%s is not one of the wallet's mints (--mint)", m))
		}
	}
	from, to := mints[0], mints[1]
	if from == to {
		return usageError("rebalance: FROM and TO are the same mint")
	}
	var paid cashu.Paid
	pay := func(ctx context.Context, invoice string) error {
		var err error
		paid, err = w.PayInvoice(ctx, invoice, cashu.PayOptions{Mint: from, Network: network(to), Expect: bolt11.Expect{AmountMsat: sats * 1000}})
		switch {
		case errors.Is(err, cashu.ErrBadPreimage):
			return nil // paid; the mint at TO says whether it was received
		case errors.Is(err, cashu.ErrCrashed):
			return fmt.Errorf("%w: %w", cashu.ErrPending, err)
		}
		return err
	}
	got, err := w.MintPaidBy(ctx, to, sats, pay, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "moved %d sats from %s to %s over Lightning (fee %d)\n", got, from, to, paid.Fee)
	for _, m := range []string{from, to} {
		b, err := w.MintBalance(ctx, m)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "  %s: %d sats\n", m, b)
	}
	return nil
}
