package nwc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/bolt11"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
)

// PaidStep is the crash-test step (internal/crashat) of Fund right after
// the wallet service paid the mint quote, before the ecash is claimed.
const PaidStep = "nwc.paid"

// MoveOptions shape Fund and Withdraw.
type MoveOptions struct {
	// Mint of the Cashu wallet to fund or withdraw from (default its first).
	Mint string
	// Network of the mint's invoices ("signet" for the dev mint). Default bitcoin.
	Network string
	// ClaimWait bounds Fund's wait, once paid, for the mint to see the
	// payment (default 2m); past it the claim is left to the wallet's Resume.
	ClaimWait time.Duration
	// StepHook, for crash tests, is called with PaidStep.
	StepHook func(step string) error
	// Logger; default discard.
	Logger *slog.Logger
}

func (o *MoveOptions) defaults() {
	if o.ClaimWait <= 0 {
		o.ClaimWait = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Fund moves sats from the wallet service behind c into the Cashu wallet w:
// a NUT-04 mint quote (journaled by w), paid by pay_invoice, then claimed.
// A crash or a lost answer after the quote leaves w a prepared mint op that
// w.Resume claims once the mint has seen the payment; nothing pays a quote
// twice, since only Fund pays and Resume only claims.
func Fund(ctx context.Context, w *cashu.Wallet, c *Client, sats uint64, opts MoveOptions) (uint64, error) {
	opts.defaults()
	q, err := w.RequestMint(ctx, opts.Mint, sats)
	if err != nil {
		return 0, err
	}
	res, err := c.PayInvoice(ctx, q.Invoice, opts.Network, bolt11.Expect{AmountMsat: sats * 1000})
	if err != nil {
		if errors.Is(err, ErrTimeout) {
			return 0, fmt.Errorf("nwc: fund: op %d: wallet did not answer (claimed at the next start if it paid): %w", q.OpID, err)
		}
		// The wallet answered that it did not pay: the quote is dropped
		// unless the mint has seen a payment after all.
		if got, derr := w.DropMint(ctx, q.OpID, err); derr == nil && got > 0 {
			opts.Logger.Warn("nwc wallet refused the mint quote, yet it was paid", "op", q.OpID, "sats", got)
			return got, nil
		} else if derr != nil && !errors.Is(derr, cashu.ErrQuoteUnpaid) {
			return 0, fmt.Errorf("nwc: fund: op %d: wallet did not pay the mint quote: %w", q.OpID, errors.Join(err, derr))
		}
		return 0, fmt.Errorf("nwc: fund: op %d: wallet did not pay the mint quote: %w", q.OpID, err)
	}
	opts.Logger.Info("nwc paid mint quote", "op", q.OpID, "sats", sats, "fee_msat", res.FeesPaid)
	if opts.StepHook != nil {
		if err := opts.StepHook(PaidStep); err != nil {
			return 0, err
		}
	}
	wait := time.NewTimer(opts.ClaimWait)
	defer wait.Stop()
	for {
		got, err := w.ClaimMint(ctx, q.OpID)
		if !errors.Is(err, cashu.ErrQuoteUnpaid) {
			return got, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-wait.C:
			return 0, fmt.Errorf("nwc: fund: op %d paid, but the mint has not seen it yet (claimed at the next start): %w", q.OpID, err)
		case <-time.After(time.Second):
		}
	}
}

// Withdraw moves sats from the Cashu wallet w to the wallet service behind
// c: make_invoice, then a melt paying it, checked against the amount asked.
// Once paid it looks the invoice up, so the service learns of the payment
// (this package's Service settles its invoices on lookup); a failed lookup
// is only logged.
func Withdraw(ctx context.Context, w *cashu.Wallet, c *Client, sats uint64, opts MoveOptions) (cashu.Paid, error) {
	opts.defaults()
	tx, err := c.MakeInvoice(ctx, sats*1000, "sovmesh withdrawal", 0)
	if err != nil {
		return cashu.Paid{}, fmt.Errorf("nwc: withdraw: wallet made no invoice: %w", err)
	}
	p, err := w.PayInvoice(ctx, tx.Invoice, cashu.PayOptions{Mint: opts.Mint, Network: opts.Network, Expect: bolt11.Expect{AmountMsat: sats * 1000}})
	if err != nil {
		return p, fmt.Errorf("nwc: withdraw: %w", err)
	}
	if st, err := c.LookupInvoice(ctx, tx.PaymentHash); err != nil || st.State != "settled" {
		opts.Logger.Warn("nwc wallet has not confirmed the withdrawal", "op", p.OpID, "state", st.State, "err", err)
	}
	return p, nil
}
