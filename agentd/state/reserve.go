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
	Capacity uint64 // the offer's capacity
	// Lapse ends the payment window of the confirmations made before it:
	// those still unpaid lapse (they end "failed") and free their capacity.
	Lapse time.Time
}

// Lapsed is a confirmation that lapsed unpaid at the end of its payment
// window: its session, the match published for it ("" if none was), its
// bid and its buyer.
type Lapsed struct {
	Session, Match, Bid, Buyer string
}

// Reserve records a provider session confirming r.Bid if no live session
// confirms it yet and the offer's live confirmed sessions leave r.Session's
// quantity; otherwise it returns ErrBidTaken (naming the session) or
// ErrOverCapacity. A confirmation is live while open; first, the
// confirmations made before r.Lapse and still unpaid lapse (see Lapse);
// they are returned. Lapse, check and record are one transaction (an error
// rolls back all three), so the provider's word on its capacity survives a
// restart.
func (d *DB) Reserve(ctx context.Context, r Reservation) ([]Lapsed, error) {
	s := r.Session
	prices, _ := json.Marshal(s.Prices)
	const live = `role = 'provider' AND state = 'open'`
	var lapsed []Lapsed
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if lapsed, err = d.lapse(ctx, tx, r.Lapse); err != nil {
			return fmt.Errorf("state: reserve: %w", err)
		}
		var taken string
		err = tx.QueryRowContext(ctx, `SELECT id FROM sessions WHERE bid = ? AND `+live+` LIMIT 1`, r.Bid).Scan(&taken)
		switch {
		case err == nil:
			return fmt.Errorf("%w (session %s)", ErrBidTaken, taken)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("state: reserve: %w", err)
		}
		var held uint64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(quantity), 0) FROM sessions WHERE bid != '' AND offer = ? AND `+live,
			s.Offer).Scan(&held); err != nil {
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
	if err != nil {
		return nil, err // rolled back: nothing lapsed either
	}
	return lapsed, nil
}

// Lapse ends ("failed") every open provider confirmation made before
// before and still unpaid: its payment window passed, its capacity and bid
// are free and its streams are refused. It returns them, so that the
// provider can tell the relays (a release of each match).
func (d *DB) Lapse(ctx context.Context, before time.Time) ([]Lapsed, error) {
	var lapsed []Lapsed
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		lapsed, err = d.lapse(ctx, tx, before)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return lapsed, nil
}

// lapse is Lapse within tx.
func (d *DB) lapse(ctx context.Context, tx *sql.Tx, before time.Time) ([]Lapsed, error) {
	const unpaid = `role = 'provider' AND bid != '' AND state = 'open' AND paid_msat = 0 AND created_at < ?`
	rows, err := tx.QueryContext(ctx, `SELECT id, match_id, bid, counterparty FROM sessions WHERE `+unpaid, before.Unix())
	if err != nil {
		return nil, fmt.Errorf("lapse: %w", err)
	}
	var out []Lapsed
	for rows.Next() {
		var l Lapsed
		if err := rows.Scan(&l.Session, &l.Match, &l.Bid, &l.Buyer); err != nil {
			rows.Close()
			return nil, fmt.Errorf("lapse: %w", err)
		}
		out = append(out, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lapse: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET state = 'failed', updated_at = ? WHERE `+unpaid,
		d.now().Unix(), before.Unix()); err != nil {
		return nil, fmt.Errorf("lapse: %w", err)
	}
	return out, nil
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

// ErrNotDeclinable means a decline names no open, unpaid confirmation of
// that buyer's bid and match.
var ErrNotDeclinable = errors.New("state: no unpaid confirmation to decline")

// Decline releases at once the provider session id confirming bid with
// match, when buyer (the bid's author, the session's counterparty) will
// not pay it: the session ends ("failed": nothing was paid), its capacity and its bid are
// free, its streams are refused. Only an open, unpaid confirmation with
// exactly these bid, match and buyer is released; anything else returns
// ErrNotDeclinable and changes nothing.
func (d *DB) Decline(ctx context.Context, id, buyer, bid, match string) error {
	res, err := d.db.ExecContext(ctx, `UPDATE sessions SET state = 'failed', updated_at = ?
		WHERE id = ? AND role = 'provider' AND counterparty = ? AND bid = ? AND bid != '' AND match_id = ? AND match_id != ''
		AND state = 'open' AND paid_msat = 0`, d.now().Unix(), id, buyer, bid, match)
	if err != nil {
		return fmt.Errorf("state: decline: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("%w: session %s", ErrNotDeclinable, id)
	}
	return nil
}
