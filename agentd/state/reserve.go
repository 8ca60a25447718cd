package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrBidTaken means a live provider session already confirms the bid.
var ErrBidTaken = errors.New("state: bid already confirmed")

// ErrOverCapacity means the live confirmed sessions of an offer leave less
// than asked.
var ErrOverCapacity = errors.New("state: not enough capacity left")

// Reservation is a provider's confirmation of an open bid: the session it
// opens for bid and the capacity it holds of s.Offer.
type Reservation struct {
	Session  Session
	Bid      string
	Capacity uint64    // the offer's capacity
	Lapse    time.Time // confirmations made before it and still unpaid have lapsed
}

// Reserve records a provider session confirming r.Bid if no live session
// confirms it yet and the offer's live confirmed sessions leave r.Session's
// quantity; otherwise it returns ErrBidTaken (naming the session) or
// ErrOverCapacity. A session is live while open and either paid or made
// after r.Lapse. Check and record are one transaction, so the provider's
// word on its capacity survives a restart.
func (d *DB) Reserve(ctx context.Context, r Reservation) error {
	s := r.Session
	prices, _ := json.Marshal(s.Prices)
	const live = `role = 'provider' AND state = 'open' AND (paid_msat > 0 OR created_at >= ?)`
	return d.tx(ctx, func(tx *sql.Tx) error {
		var taken string
		err := tx.QueryRowContext(ctx, `SELECT id FROM sessions WHERE bid = ? AND `+live+` LIMIT 1`, r.Bid, r.Lapse.Unix()).Scan(&taken)
		switch {
		case err == nil:
			return fmt.Errorf("%w (session %s)", ErrBidTaken, taken)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("state: reserve: %w", err)
		}
		var held uint64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(quantity), 0) FROM sessions WHERE bid != '' AND offer = ? AND `+live,
			s.Offer, r.Lapse.Unix()).Scan(&held); err != nil {
			return fmt.Errorf("state: reserve: %w", err)
		}
		if held+s.Quantity > r.Capacity {
			return fmt.Errorf("%w: %d of %d held, %d asked", ErrOverCapacity, held, r.Capacity, s.Quantity)
		}
		now := d.now().Unix()
		_, err = tx.ExecContext(ctx, `INSERT INTO sessions (id, role, resource, counterparty, offer, prices, quantity, duration, amount_msat, bid, created_at, updated_at)
			VALUES (?, 'provider', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, string(s.Resource), s.Counterparty, s.Offer, string(prices), s.Quantity, s.Duration, s.AmountMsat, r.Bid, now, now)
		if err != nil {
			return fmt.Errorf("state: reserve: %w", err)
		}
		return nil
	})
}

// Unreserve deletes a reservation whose match was never made (the
// provider refused the bid after all), freeing its capacity and its bid.
func (d *DB) Unreserve(ctx context.Context, id string) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = ? AND bid != '' AND match_id = '' AND paid_msat = 0`, id)
	if err != nil {
		return fmt.Errorf("state: unreserve: %w", err)
	}
	return nil
}
