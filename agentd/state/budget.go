package state

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
)

// ErrOverBudget means a payment would pass the local spending limits.
// It wraps cashu.ErrOverBudget, as every budget's refusal does.
var ErrOverBudget = fmt.Errorf("state: %w", cashu.ErrOverBudget)

// Budget is the local spending limit, per UTC day in all and per
// counterparty; it implements cashu.Budget. A zero limit means none.
type Budget struct {
	DB              *DB
	PerDay          uint64
	PerCounterparty uint64

	mu sync.Mutex // one reservation at a time: check and insert are one step
}

type exemptKey struct{}

// Exempt marks ctx so that payments made with it are not counted against
// the budget: money that is not ours to withhold, such as the change a
// provider returns to a buyer.
func Exempt(ctx context.Context) context.Context { return context.WithValue(ctx, exemptKey{}, true) }

// IsExempt reports whether ctx was marked by Exempt.
func IsExempt(ctx context.Context) bool { return ctx.Value(exemptKey{}) != nil }

// Reserve counts sats against today's limits, or refuses.
func (b *Budget) Reserve(ctx context.Context, counterparty string, sats uint64) (func(context.Context, bool) error, error) {
	if ctx.Value(exemptKey{}) != nil {
		return func(context.Context, bool) error { return nil }, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	day := b.DB.now().UTC().Format(time.DateOnly)
	var id int64
	err := b.DB.tx(ctx, func(tx *sql.Tx) error {
		var all, cp uint64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(sats), 0) FROM budget WHERE day = ?`, day).Scan(&all); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(sats), 0) FROM budget WHERE day = ? AND counterparty = ?`, day, counterparty).Scan(&cp); err != nil {
			return err
		}
		if b.PerDay > 0 && all+sats > b.PerDay {
			return fmt.Errorf("%w: %d sats today + %d > %d per day", ErrOverBudget, all, sats, b.PerDay)
		}
		if b.PerCounterparty > 0 && cp+sats > b.PerCounterparty {
			return fmt.Errorf("%w: %d sats to %s today + %d > %d per counterparty", ErrOverBudget, cp, counterparty, sats, b.PerCounterparty)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO budget (day, counterparty, sats, state) VALUES (?, ?, ?, 'reserved')`, day, counterparty, sats)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, paid bool) error {
		var err error
		if paid {
			_, err = b.DB.db.ExecContext(ctx, `UPDATE budget SET state = 'paid' WHERE id = ?`, id)
		} else {
			_, err = b.DB.db.ExecContext(ctx, `DELETE FROM budget WHERE id = ?`, id)
		}
		return err
	}, nil
}

// SpentToday returns the sats counted against today's budget.
func (b *Budget) SpentToday(ctx context.Context) (uint64, error) {
	var n uint64
	err := b.DB.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(sats), 0) FROM budget WHERE day = ?`, b.DB.now().UTC().Format(time.DateOnly)).Scan(&n)
	return n, err
}

func (d *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	d.txMu.Lock()
	defer d.txMu.Unlock()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
