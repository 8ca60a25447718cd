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
// counterparty; it implements cashu.Budget. A zero limit means none. Its
// rows are in the payment journal, so that a reclaimed token's sats are
// released (Release) in the reclaim's own transaction.
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

// budgetSum counts a day's rows, a release only once its reclaim op is done.
const budgetSum = `SELECT COALESCE(SUM(b.sats), 0) FROM budget b LEFT JOIN ops o ON o.id = b.op_id
	WHERE b.day = ? AND (b.op_id = 0 OR o.state = 'done')`

// Reserve counts sats against today's limits, or refuses.
func (b *Budget) Reserve(ctx context.Context, counterparty string, sats uint64) (func(context.Context, bool) error, error) {
	if ctx.Value(exemptKey{}) != nil {
		return func(context.Context, bool) error { return nil }, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	day := b.DB.now().UTC().Format(time.DateOnly)
	var id int64
	err := b.DB.payTx(ctx, func(tx *sql.Tx) error {
		var all, cp int64
		if err := tx.QueryRowContext(ctx, budgetSum, day).Scan(&all); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, budgetSum+` AND b.counterparty = ?`, day, counterparty).Scan(&cp); err != nil {
			return err
		}
		all, cp = max(all, 0), max(cp, 0)
		if b.PerDay > 0 && uint64(all)+sats > b.PerDay {
			return fmt.Errorf("%w: %d sats today + %d > %d per day", ErrOverBudget, all, sats, b.PerDay)
		}
		if b.PerCounterparty > 0 && uint64(cp)+sats > b.PerCounterparty {
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
			_, err = b.DB.pay.ExecContext(ctx, `UPDATE budget SET state = 'paid' WHERE id = ?`, id)
		} else {
			_, err = b.DB.pay.ExecContext(ctx, `DELETE FROM budget WHERE id = ?`, id)
		}
		return err
	}, nil
}

// Release gives back, inside tx (a reclaim op's journal transaction), the
// sats of a token paid on day (the send's UTC day) to counterparty that
// came back: they count against that day no more once the reclaim op
// (opID) is done.
func (d *DB) Release(ctx context.Context, tx Execer, day time.Time, counterparty string, sats uint64, opID int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO budget (day, counterparty, sats, state, op_id) VALUES (?, ?, ?, 'released', ?)`,
		day.UTC().Format(time.DateOnly), counterparty, -int64(min(sats, 1<<62)), opID); err != nil {
		return fmt.Errorf("state: release budget: %w", err)
	}
	return nil
}

// SpentToday returns the sats counted against today's budget.
func (b *Budget) SpentToday(ctx context.Context) (uint64, error) {
	var n int64
	if err := b.DB.pay.QueryRowContext(ctx, budgetSum, b.DB.now().UTC().Format(time.DateOnly)).Scan(&n); err != nil {
		return 0, fmt.Errorf("state: budget: %w", err)
	}
	return uint64(max(n, 0)), nil
}

// SpentTodayWith returns the sats counted against today's budget for
// counterparty.
func (b *Budget) SpentTodayWith(ctx context.Context, counterparty string) (uint64, error) {
	var n int64
	if err := b.DB.pay.QueryRowContext(ctx, budgetSum+` AND b.counterparty = ?`,
		b.DB.now().UTC().Format(time.DateOnly), counterparty).Scan(&n); err != nil {
		return 0, fmt.Errorf("state: budget: %w", err)
	}
	return uint64(max(n, 0)), nil
}

func (d *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	d.txMu.Lock()
	defer d.txMu.Unlock()
	return runTx(ctx, d.db, fn)
}

// payTx runs fn in a transaction of the payment journal's database.
func (d *DB) payTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return runTx(ctx, d.pay, fn)
}

func runTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
