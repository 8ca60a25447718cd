package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sovmesh/sovmesh/nips"
)

// A provider's credit: the units a buyer paid for in a market session and
// has not used yet (metering.Gate). It is kept as lines in the payment
// journal's database (migrations/pay 0008): a payment's line is written in
// the transaction of the receive op that redeemed it and a refund's in the
// transaction of its send op, and each counts as its op says, so the credit
// and the money it stands for are committed together or not at all.

// CreditLine is one change of a buyer's credit.
type CreditLine struct {
	Buyer    string
	Resource nips.Resource
	// Session is the market session ("" for a walk-in's credit).
	Session string
	// Units is positive for a payment, negative for usage and refunds.
	Units int64
	// OpID is the journal op the line records (0 for none: usage).
	OpID int64
}

// creditCounts is the condition under which a credit line c counts: a
// line with no op (0, or movedOp) always, a receive's once its op is done or queued
// (accepted offline), a send's (a refund) unless its op failed.
const creditCounts = `(c.op_id <= 0 OR EXISTS (SELECT 1 FROM ops o WHERE o.id = c.op_id AND
	((o.kind = 'send' AND o.state != 'failed') OR (o.kind != 'send' AND o.state IN ('done', 'queued')))))`

// movedOp is the op_id of the lines moved from an older agentd.db: their
// presence marks the move done.
const movedOp = -1

// maxCreditUnits bounds one line (SQLite integers are signed 64-bit).
const maxCreditUnits = 1 << 62

// AddCreditLine writes l inside tx, a transaction of the payment journal
// (the OnJournal hook of the cashu op l.OpID records).
func (d *DB) AddCreditLine(ctx context.Context, tx Execer, l CreditLine) error {
	if l.Units == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO credit_lines (buyer, resource, session, units, op_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		l.Buyer, string(l.Resource), l.Session, max(min(l.Units, maxCreditUnits), -maxCreditUnits), l.OpID, d.now().Unix()); err != nil {
		return fmt.Errorf("state: credit line: %w", err)
	}
	return nil
}

// OpAmount returns the amount (sats) of journal op opID, read inside tx:
// a receive's credit, a send's amount.
func OpAmount(ctx context.Context, tx *sql.Tx, opID int64) (uint64, error) {
	var amount uint64
	if err := tx.QueryRowContext(ctx, `SELECT amount FROM ops WHERE id = ?`, opID).Scan(&amount); err != nil {
		return 0, fmt.Errorf("state: op %d: %w", opID, err)
	}
	return amount, nil
}

// UseCredit takes units a stream used out of buyer's credit in session.
func (d *DB) UseCredit(ctx context.Context, buyer string, r nips.Resource, session string, units uint64) error {
	return d.useCredit(ctx, CreditLine{Buyer: buyer, Resource: r, Session: session, Units: -int64(min(units, maxCreditUnits))})
}

// ReturnCredit gives units back to buyer's credit in session: usage
// taken out of it before (metering: at a pause point) that the stream did
// not use in the end.
func (d *DB) ReturnCredit(ctx context.Context, buyer string, r nips.Resource, session string, units uint64) error {
	return d.useCredit(ctx, CreditLine{Buyer: buyer, Resource: r, Session: session, Units: int64(min(units, maxCreditUnits))})
}

func (d *DB) useCredit(ctx context.Context, l CreditLine) error {
	if err := d.payTx(ctx, func(tx *sql.Tx) error { return d.AddCreditLine(ctx, tx, l) }); err != nil {
		return fmt.Errorf("state: credit: %w", err)
	}
	return nil
}

// Credit returns the units held for buyer on resource in session: the sum
// of the lines that count (never below 0).
func (d *DB) Credit(ctx context.Context, buyer string, r nips.Resource, session string) (uint64, error) {
	var units int64
	err := d.pay.QueryRowContext(ctx, `SELECT COALESCE(SUM(c.units), 0) FROM credit_lines c
		WHERE c.buyer = ? AND c.resource = ? AND c.session = ? AND `+creditCounts, buyer, string(r), session).Scan(&units)
	if err != nil {
		return 0, fmt.Errorf("state: credit: %w", err)
	}
	return uint64(max(units, 0)), nil
}

// SessionCredit is what a buyer holds in one session.
type SessionCredit struct {
	Buyer   string
	Session string
	Units   uint64
}

// ClosedCredit returns the credit held on resource in market sessions
// that are no longer open (their receipt is signed, or they failed or are
// unknown to agentd.db): what is owed back to their buyers.
func (d *DB) ClosedCredit(ctx context.Context, r nips.Resource) ([]SessionCredit, error) {
	var held []SessionCredit
	rows, err := d.pay.QueryContext(ctx, `SELECT c.buyer, c.session, SUM(c.units) FROM credit_lines c
		WHERE c.resource = ? AND c.session != '' AND `+creditCounts+` GROUP BY 1, 2 HAVING SUM(c.units) > 0`, string(r))
	if err != nil {
		return nil, fmt.Errorf("state: closed credit: %w", err)
	}
	for rows.Next() {
		var c SessionCredit
		if err := rows.Scan(&c.Buyer, &c.Session, &c.Units); err != nil {
			rows.Close()
			return nil, fmt.Errorf("state: closed credit: %w", err)
		}
		held = append(held, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: closed credit: %w", err)
	}
	var out []SessionCredit
	for _, c := range held {
		s, err := d.GetSession(ctx, c.Session)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if err == nil && s.State == "open" {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// moveCredit copies the credit an older agentd.db kept (moved_credit,
// migrations/agentd 0014) into the payment journal, then drops it.
func (d *DB) moveCredit(ctx context.Context) error {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'moved_credit'`).Scan(&n); err != nil {
		return fmt.Errorf("state: move credit: %w", err)
	}
	if n == 0 {
		return nil
	}
	var moved int
	if err := d.pay.QueryRowContext(ctx, `SELECT COUNT(*) FROM credit_lines WHERE op_id = ?`, movedOp).Scan(&moved); err != nil {
		return fmt.Errorf("state: move credit: %w", err)
	}
	var lines []CreditLine
	err := queryEach(ctx, d.db, `SELECT buyer, resource, session, units FROM moved_credit WHERE units > 0`, func(r *sql.Rows) error {
		var l CreditLine
		var res string
		if err := r.Scan(&l.Buyer, &res, &l.Session, &l.Units); err != nil {
			return err
		}
		l.Resource, l.OpID = nips.Resource(res), movedOp
		lines = append(lines, l)
		return nil
	})
	if err == nil && moved == 0 {
		err = d.payTx(ctx, func(tx *sql.Tx) error {
			for _, l := range lines {
				if err := d.AddCreditLine(ctx, tx, l); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err == nil {
		// A crash between the copy and the drop does not copy again:
		// the moved lines (movedOp) mark the copy done.
		_, err = d.db.ExecContext(ctx, `DROP TABLE moved_credit`)
	}
	if err != nil {
		return fmt.Errorf("state: move credit: %w", err)
	}
	return nil
}
