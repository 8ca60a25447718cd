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

// MoveOptions shape Fund and Withdraw.
type MoveOptions struct {
	// Mint of the Cashu wallet to fund or withdraw from (default its first).
	Mint string
	// Network of the mint's invoices ("signet" for the dev mint). Default bitcoin.
	Network string
	// ClaimWait bounds Fund's wait, once paid, for the mint to see the
	// payment (default 2m); past it the claim is left to the wallet's Resume.
	ClaimWait time.Duration
	// Logger; default discard.
	Logger *slog.Logger
}

func (o *MoveOptions) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Fund moves sats from the wallet service behind c into the Cashu wallet w
// (cashu.Wallet.MintPaidBy: a journaled NUT-04 quote, paid by pay_invoice,
// then claimed; a crash or a lost answer after the quote leaves w a mint
// op its Resume claims once paid).
func Fund(ctx context.Context, w *cashu.Wallet, c *Client, sats uint64, opts MoveOptions) (uint64, error) {
	opts.defaults()
	pay := func(ctx context.Context, invoice string) error {
		res, err := c.PayInvoice(ctx, invoice, opts.Network, bolt11.Expect{AmountMsat: sats * 1000})
		if err != nil && !refused(err) {
			// Sent, but no answer (timeout, dropped connection, cancel):
			// the wallet may still pay.
			return fmt.Errorf("nwc: no answer from the wallet: %w: %w", cashu.ErrPending, err)
		}
		if err != nil {
			return fmt.Errorf("nwc: wallet did not pay: %w", err)
		}
		opts.Logger.Info("nwc paid mint quote", "sats", sats, "fee_msat", res.FeesPaid)
		return nil
	}
	got, err := w.MintPaidBy(ctx, opts.Mint, sats, pay, opts.ClaimWait)
	if err != nil {
		return got, fmt.Errorf("nwc: fund: %w", err)
	}
	return got, nil
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

// refused reports that a pay_invoice did not pay: the wallet answered
// with an error, or the invoice failed the checks made before sending.
// Other errors (no answer) leave the payment's outcome open.
func refused(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return true
	}
	for _, s := range []error{bolt11.ErrMalformed, bolt11.ErrWrongNetwork, bolt11.ErrExpired, bolt11.ErrNoAmount,
		bolt11.ErrWrongAmount, bolt11.ErrDescriptionHash} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
