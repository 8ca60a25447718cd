package cashu

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MintPaidStep is the crash-test step (StepHook) of MintPaidBy right
// after the payer paid the mint quote, before the ecash is claimed.
const MintPaidStep = "mint.paid"

// PayForMint pays a mint quote's BOLT11 invoice from somewhere else (an
// NWC wallet, a melt at another mint). An error wrapping ErrPending means
// the payment may still happen; any other, that it did not.
type PayForMint func(ctx context.Context, invoice string) error

// MintPaidBy funds amount sats of ecash at mint (default the first) with
// a NUT-04 quote that pay pays: the quote is journaled first, then paid,
// then claimed, waiting up to wait (default 2m) for the mint to see the
// payment. A crash, a pending payment or a mint slow to see it leaves a
// prepared mint op that Resume claims once paid; nothing pays a quote
// twice, since Resume only claims. A quote pay refused is dropped
// (DropMint) unless the mint reports it paid after all.
func (w *Wallet) MintPaidBy(ctx context.Context, mint string, amount uint64, pay PayForMint, wait time.Duration) (uint64, error) {
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	q, err := w.RequestMint(ctx, mint, amount)
	if err != nil {
		return 0, err
	}
	if err := pay(ctx, q.Invoice); err != nil {
		if errors.Is(err, ErrPending) {
			return 0, fmt.Errorf("cashu: mint quote op %d: payment outcome unknown (claimed at the next start if paid): %w", q.OpID, err)
		}
		got, derr := w.DropMint(ctx, q.OpID, err)
		switch {
		case derr == nil && got > 0:
			w.log.Warn("mint quote paid although its payer refused", "op", q.OpID, "amount", got)
			return got, nil
		case derr != nil && !errors.Is(derr, ErrQuoteUnpaid):
			return 0, fmt.Errorf("cashu: mint quote op %d not paid: %w", q.OpID, errors.Join(err, derr))
		}
		return 0, fmt.Errorf("cashu: mint quote op %d not paid: %w", q.OpID, err)
	}
	if err := w.step(MintPaidStep); err != nil {
		return 0, err
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		got, err := w.ClaimMint(ctx, q.OpID)
		if !errors.Is(err, ErrQuoteUnpaid) {
			return got, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-deadline.C:
			return 0, fmt.Errorf("cashu: mint quote op %d paid, but the mint has not seen it yet (claimed at the next start): %w", q.OpID, err)
		case <-time.After(time.Second):
		}
	}
}

// DropMint gives up a mint quote its payer refused to pay: if the mint
// reports it unpaid, the op fails (nothing moved; no later start asks the
// mint for it again), else it is claimed as ClaimMint does, so a quote
// paid after all is never lost. It returns the sats claimed (0 when
// dropped).
func (w *Wallet) DropMint(ctx context.Context, opID int64, cause error) (uint64, error) {
	got, err := w.ClaimMint(ctx, opID)
	if !errors.Is(err, ErrQuoteUnpaid) {
		return got, err
	}
	op, err := w.j.Get(ctx, opID)
	if err != nil {
		return 0, err
	}
	d, err := decodeOp(op)
	if err != nil {
		return 0, err
	}
	if len(d.Outputs) > 0 {
		// Outputs were sent for signing once: keep the op for Resume.
		return 0, fmt.Errorf("cashu: drop mint quote: op %d: %w", opID, ErrQuoteUnpaid)
	}
	return 0, w.failOp(ctx, op, d, fmt.Errorf("%w: %w", ErrQuoteUnpaid, cause))
}
