package cashu

import (
	"context"
	"errors"
	"fmt"

	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// ResumeReport counts what Resume did with the open ops.
type ResumeReport struct {
	Completed int // delivered: swapped, minted or paid
	Failed    int // nothing moved, or refunded to the wallet
	Pending   int // still open: the mint could not say (yet)
}

// Resume finishes or refunds every operation a previous run left open:
// swaps whose answer was lost are restored from the mint (NUT-09) or retried
// when their inputs are unspent (NUT-07), except sends, which are cancelled
// then (ErrSendCancelled); offline receipts are swapped;
// melts are settled by their quote state; paid mint quotes are claimed.
// Call it after Open, before the wallet is used: it takes every open op,
// including those another goroutine may be running. While the wallet is in
// use, SettleOffline is the form that only takes the queued offline receipts.
// On a journal shared by several processes (PostgreSQL) it takes this
// process's open ops and those of processes that have stopped, never those
// another running process owns.
func (w *Wallet) Resume(ctx context.Context) (ResumeReport, error) {
	w.settleMu.Lock()
	defer w.settleMu.Unlock()
	ops, err := w.j.Claim(ctx, journal.StatePrepared, journal.StateQueued)
	if err != nil {
		return ResumeReport{}, err
	}
	var rep ResumeReport
	var errs []error
	for _, op := range ops {
		err := w.resumeOp(ctx, op)
		after, gerr := w.j.Get(ctx, op.ID)
		switch {
		case gerr != nil:
			errs = append(errs, gerr)
		case after.State == journal.StateDone || after.State == journal.StateSent:
			rep.Completed++
		case after.State == journal.StateFailed || after.State == journal.StateRefunded:
			rep.Failed++
		default:
			rep.Pending++
			if err != nil && !errors.Is(err, ErrPending) && !errors.Is(err, ErrQuoteUnpaid) {
				errs = append(errs, fmt.Errorf("op %d: %w", op.ID, err))
			}
		}
	}
	if rep != (ResumeReport{}) {
		w.log.Info("payments resumed", "completed", rep.Completed, "failed", rep.Failed, "pending", rep.Pending)
	}
	return rep, errors.Join(errs...)
}

func (w *Wallet) resumeOp(ctx context.Context, op journal.Op) error {
	d, err := decodeOp(op)
	if err != nil {
		return err
	}
	switch op.Kind {
	case KindSend:
		// A send the mint never swapped is cancelled, not retried: the
		// caller that would have handed its token over is gone, and
		// nothing delivers a token after a restart, so finishing it would
		// only make a token that comes back a ReclaimGrace later (a locked
		// one, after its locktime). One the mint did swap is restored
		// (Sent) and ReclaimStale settles it.
		done, err := w.recoverSwap(ctx, op, d, false)
		if err != nil || done {
			return err
		}
		return w.failOp(ctx, op, d, ErrSendCancelled)
	case KindReceive, KindReclaim, KindSplit:
		_, err := w.recoverSwap(ctx, op, d, true)
		return err
	case KindMint:
		_, err := w.ClaimMint(ctx, op.ID)
		return err
	case KindMelt:
		_, err := w.settleMelt(ctx, op, d)
		return err
	}
	return fmt.Errorf("cashu: unknown op kind %q", op.Kind)
}
