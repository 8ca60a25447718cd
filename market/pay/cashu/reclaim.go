package cashu

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/elnosh/gonuts/cashu/nuts/nut07"
	"github.com/elnosh/gonuts/cashu/nuts/nut11"

	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// Reclaimed is the result of Reclaim.
type Reclaimed struct {
	// OpID is the reclaim op (0 when nothing was swapped).
	OpID int64
	// Amount came back to the wallet (0 when the payee had redeemed it).
	Amount uint64
	// Redeemed reports that the payee had already redeemed the token.
	Redeemed bool
}

// Reclaim takes back the token of a send op that the payee has not
// redeemed: a refund for a session that never happened. A locked token can
// be reclaimed only after its locktime (ErrStillLocked before).
func (w *Wallet) Reclaim(ctx context.Context, opID int64) (Reclaimed, error) {
	return w.ReclaimWith(ctx, opID, nil)
}

// ReclaimWith is Reclaim with a hook called inside the transaction that
// journals the reclaim op (as ReceiveOptions.OnJournal): a caller records
// the refund there, with the op, so that the record counts exactly when
// the op is done.
func (w *Wallet) ReclaimWith(ctx context.Context, opID int64, onJournal func(ctx context.Context, tx *sql.Tx, opID int64) error) (Reclaimed, error) {
	// One reclaim at a time: two of the same op would see the second's
	// swap refused and mark a refunded send delivered.
	w.reclaimMu.Lock()
	defer w.reclaimMu.Unlock()
	op, err := w.j.Get(ctx, opID)
	if err != nil {
		return Reclaimed{}, err
	}
	d, err := decodeOp(op)
	if err != nil {
		return Reclaimed{}, err
	}
	if op.Kind != KindSend || op.State != journal.StateSent || d.Token == "" {
		return Reclaimed{}, fmt.Errorf("cashu: reclaim op %d: %w (kind %s, state %s)", opID, ErrNotReclaimable, op.Kind, op.State)
	}
	if d.Lock != nil && time.Now().Unix() <= d.Lock.Locktime {
		return Reclaimed{}, fmt.Errorf("cashu: reclaim op %d: %w until %s", opID, ErrStillLocked, time.Unix(d.Lock.Locktime, 0).UTC().Format(time.RFC3339))
	}
	tok, err := decodeToken(d.Token)
	if err != nil {
		return Reclaimed{}, err
	}
	proofs := tok.Proofs()
	if d.Lock != nil {
		if proofs, err = nut11.AddSignatureToInputs(clone(proofs), w.key); err != nil {
			return Reclaimed{}, fmt.Errorf("cashu: sign refund: %w", err)
		}
	}
	rec, err := w.receiveProofs(ctx, op.Mint, proofs, KindReclaim, ReceiveOptions{Counterparty: op.Counterparty, OnJournal: onJournal}, opID)
	if errors.Is(err, ErrTokenSpent) {
		if err := w.MarkDelivered(ctx, opID); err != nil {
			return Reclaimed{}, fmt.Errorf("cashu: reclaim op %d: redeemed, not recorded: %w", opID, err)
		}
		return Reclaimed{Redeemed: true}, nil
	}
	if err != nil {
		return Reclaimed{}, fmt.Errorf("cashu: reclaim op %d: %w", opID, err)
	}
	return Reclaimed{OpID: rec.OpID, Amount: rec.Amount}, nil
}

// StaleReport is what ReclaimStale did.
type StaleReport struct {
	// Delivered counts the sends the payee had redeemed (now done).
	Delivered int
	// Reclaimed are the sends taken back, and ReclaimedSats what came back.
	Reclaimed     []int64
	ReclaimedSats uint64
	// Pending counts the sends still out: locked until their locktime, or
	// their mint could not say (or was not reached).
	Pending     int
	PendingSats uint64
}

// ReclaimStale finishes the payments the wallet sent before `before` (a
// grace period ago, so a payment in flight is not raced) that are still
// out and that want accepts (nil: all): it asks each mint (NUT-07) for the state of the tokens' proofs; a
// token the payee redeemed is marked delivered, one it never redeemed is
// reclaimed into the wallet (onJournal, as in ReclaimWith, records it with
// the reclaim op; send is the send op). Mints that cannot be reached leave
// their sends pending, for the next call.
func (w *Wallet) ReclaimStale(ctx context.Context, before time.Time, want func(journal.Op) bool, onJournal func(ctx context.Context, tx *sql.Tx, send journal.Op, opID int64) error) (StaleReport, error) {
	ops, err := w.j.List(ctx, journal.StateSent)
	if err != nil {
		return StaleReport{}, fmt.Errorf("cashu: reclaim stale: %w", err)
	}
	var rep StaleReport
	var errs []error
	byMint := map[string][]journal.Op{}
	for _, op := range ops {
		if op.Kind == KindSend && op.UpdatedAt.Before(before) && (want == nil || want(op)) {
			byMint[op.Mint] = append(byMint[op.Mint], op)
		}
	}
	for mint, ops := range byMint {
		ys := map[int64][]string{}
		var all []string
		for _, op := range ops {
			d, err := decodeOp(op)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			tok, err := decodeToken(d.Token)
			if err != nil {
				errs = append(errs, fmt.Errorf("cashu: reclaim stale op %d: %w", op.ID, err))
				continue
			}
			for _, p := range tok.Proofs() {
				y, err := proofY(p.Secret)
				if err != nil {
					return rep, err
				}
				ys[op.ID] = append(ys[op.ID], y)
			}
			all = append(all, ys[op.ID]...)
		}
		states := map[string]nut07.State{}
		for i := 0; i < len(all); i += 100 {
			res, err := w.client.checkState(ctx, mint, all[i:min(i+100, len(all))])
			if err != nil {
				errs = append(errs, fmt.Errorf("cashu: reclaim stale: check state at %s: %w", mint, err))
				break
			}
			for _, s := range res.States {
				states[s.Y] = s.State
			}
		}
		for _, op := range ops {
			if ys[op.ID] == nil {
				continue
			}
			switch stateOf(states, ys[op.ID]) {
			case nut07.Spent:
				if err := w.MarkDelivered(ctx, op.ID); err != nil {
					errs = append(errs, err)
					continue
				}
				rep.Delivered++
				continue
			case nut07.Unspent:
			default:
				rep.Pending++
				rep.PendingSats += op.Amount
				continue
			}
			var hook func(ctx context.Context, tx *sql.Tx, opID int64) error
			if onJournal != nil {
				send := op
				hook = func(ctx context.Context, tx *sql.Tx, opID int64) error { return onJournal(ctx, tx, send, opID) }
			}
			rc, err := w.ReclaimWith(ctx, op.ID, hook)
			switch {
			case errors.Is(err, ErrStillLocked), errors.Is(err, ErrNotReclaimable), errors.Is(err, ErrPending), errors.Is(err, ErrMintUnreachable):
				rep.Pending++
				rep.PendingSats += op.Amount
			case err != nil:
				rep.Pending++
				rep.PendingSats += op.Amount
				errs = append(errs, err)
			case rc.Redeemed:
				rep.Delivered++
			default:
				rep.Reclaimed = append(rep.Reclaimed, op.ID)
				rep.ReclaimedSats += rc.Amount
			}
		}
	}
	if len(rep.Reclaimed) > 0 {
		w.log.Info("unredeemed payments reclaimed", "payments", len(rep.Reclaimed), "sats", rep.ReclaimedSats)
	}
	return rep, errors.Join(errs...)
}

// stateOf is the state of a token from its proofs' states: spent if any
// is (the payee swapped it), unspent if all are, else pending or unknown.
func stateOf(states map[string]nut07.State, ys []string) nut07.State {
	unspent := 0
	for _, y := range ys {
		st, ok := states[y] // (nut07.Unspent is the zero State)
		switch {
		case !ok:
		case st == nut07.Spent:
			return nut07.Spent
		case st == nut07.Unspent:
			unspent++
		}
	}
	if unspent == len(ys) {
		return nut07.Unspent
	}
	return nut07.Pending
}

// SentToken returns the token of send op opID while it is out (state
// sent): what a payer hands over again when the payee may not have had it
// (a change note republished). ErrNotReclaimable once the op is not out.
func (w *Wallet) SentToken(ctx context.Context, opID int64) (string, error) {
	op, err := w.j.Get(ctx, opID)
	if err != nil {
		return "", err
	}
	d, err := decodeOp(op)
	if err != nil {
		return "", err
	}
	if op.Kind != KindSend || op.State != journal.StateSent || d.Token == "" {
		return "", fmt.Errorf("cashu: op %d: %w (kind %s, state %s)", opID, ErrNotReclaimable, op.Kind, op.State)
	}
	return d.Token, nil
}

// LockedUntil reports the locktime of send op op when its token is
// P2PK-locked to its payee and the lock has not lapsed at now: until then
// only the payee can spend it, so nothing this wallet does settles it.
func LockedUntil(op journal.Op, now time.Time) (time.Time, bool) {
	if op.Kind != KindSend {
		return time.Time{}, false
	}
	d, err := decodeOp(op)
	if err != nil || d.Lock == nil || d.Lock.Locktime == 0 {
		return time.Time{}, false
	}
	until := time.Unix(d.Lock.Locktime, 0)
	return until, now.Before(until)
}
