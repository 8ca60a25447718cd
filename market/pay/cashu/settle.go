package cashu

import (
	"context"
	"errors"
	"fmt"

	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// SettleReport is what SettleOffline did with the receipts accepted offline.
type SettleReport struct {
	// Completed are the receive ops swapped at the mint: their sats are in
	// the balance now.
	Completed []int64
	// Failed are the receive ops the mint refused (proofs spent elsewhere
	// before we swapped them): the loss Config.OfflineLimit bounds.
	Failed []int64
	// CompletedSats and FailedSats are the credits of those ops.
	CompletedSats, FailedSats uint64
	// Pending counts the receipts still queued (their mint could not be
	// asked, or said the proofs are pending).
	Pending int
}

// SettleOffline swaps the receipts accepted offline (queued receive ops) at
// their mints, as Resume does for them: NUT-09 restore first (an earlier
// attempt may have gone through), then NUT-07 state, then the swap; a
// receipt whose proofs the mint reports spent fails. It touches no other op:
// unlike Resume, it is safe to call while the wallet is in use (a provider
// calls it periodically), since a queued op is owned by no running call.
// Once a mint is found unreachable, its other receipts wait for the next
// call. Calls are serialized with each other and with Resume.
func (w *Wallet) SettleOffline(ctx context.Context) (SettleReport, error) {
	w.settleMu.Lock()
	defer w.settleMu.Unlock()
	ops, err := w.j.List(ctx, journal.StateQueued)
	if err != nil {
		return SettleReport{}, fmt.Errorf("cashu: settle offline: %w", err)
	}
	var rep SettleReport
	var errs []error
	down := map[string]bool{}
	for _, op := range ops {
		if op.Kind != KindReceive {
			continue
		}
		if down[op.Mint] || ctx.Err() != nil {
			rep.Pending++
			continue
		}
		d, err := decodeOp(op)
		if err != nil {
			rep.Pending++
			errs = append(errs, err)
			continue
		}
		_, err = w.recoverSwap(ctx, op, d, true)
		after, gerr := w.j.Get(ctx, op.ID)
		switch {
		case gerr != nil:
			rep.Pending++
			errs = append(errs, gerr)
		case after.State == journal.StateDone:
			rep.Completed = append(rep.Completed, op.ID)
			rep.CompletedSats += op.Amount
		case after.State == journal.StateFailed:
			rep.Failed = append(rep.Failed, op.ID)
			rep.FailedSats += op.Amount
		default:
			rep.Pending++
			switch {
			case errors.Is(err, ErrMintUnreachable):
				down[op.Mint] = true
			case err != nil && !errors.Is(err, ErrPending):
				errs = append(errs, fmt.Errorf("cashu: settle offline op %d: %w", op.ID, err))
			}
		}
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	if len(rep.Completed)+len(rep.Failed) > 0 {
		w.log.Debug("offline receipts settled", "completed", len(rep.Completed), "failed", len(rep.Failed), "pending", rep.Pending)
	}
	return rep, errors.Join(errs...)
}

// FetchKeys caches the active keys of every allow-listed mint (refreshing
// stale ones), so that tokens can be checked on their DLEQ proofs while a
// mint is down from the first payment on. It returns the per-mint errors,
// joined.
func (w *Wallet) FetchKeys(ctx context.Context) error {
	var errs []error
	for _, m := range w.cfg.Mints {
		if _, err := w.activeKeyset(ctx, m); err != nil {
			errs = append(errs, fmt.Errorf("cashu: keys of %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// OfflineLimit returns Config.OfflineLimit: the sats per mint the wallet
// accepts while that mint cannot be reached (0: never).
func (w *Wallet) OfflineLimit() uint64 { return w.cfg.OfflineLimit }
