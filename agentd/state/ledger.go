package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sovmesh/sovmesh/nips"
)

// Entry is one ledger line. It describes one payment journal op (OpID) and
// is written in that op's transaction (Record, Recorder); what it counts
// for follows the op's state (see Totals).
type Entry struct {
	Session      string
	Kind         string
	Counterparty string
	Resource     nips.Resource
	Sats         uint64
	Fee          uint64
	OpID         int64
	CreatedAt    time.Time
}

// Execer is what Record writes with: the *sql.Tx of a journal transaction.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Record appends a ledger line inside tx, a transaction of the payment
// journal (the OnJournal hook of a cashu send or receive), so the line and
// the op it records are committed together or not at all. Recorder is the
// usual form.
func (d *DB) Record(ctx context.Context, tx Execer, e Entry) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger (session, kind, counterparty, resource, sats, fee, op_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Session, e.Kind, e.Counterparty, string(e.Resource), e.Sats, e.Fee, e.OpID, d.now().Unix()); err != nil {
		return fmt.Errorf("state: record: %w", err)
	}
	return nil
}

// Recorder returns a cashu OnJournal hook (SendOptions, ReceiveOptions)
// that records e for the op being journaled, its sats and fee read from
// the op itself: a send's amount and the mint fees it costs (data.fee), a
// receive's credit and the swap fee its token carried (inputs - credit).
func (d *DB) Recorder(e Entry) func(ctx context.Context, tx *sql.Tx, opID int64) error {
	return func(ctx context.Context, tx *sql.Tx, opID int64) error {
		var kind string
		var amount, sendFee, inputs uint64
		if err := tx.QueryRowContext(ctx, `SELECT kind, amount, COALESCE(json_extract(data, '$.fee'), 0),
			COALESCE((SELECT SUM(json_extract(value, '$.amount')) FROM json_each(data, '$.inputs')), 0) FROM ops WHERE id = ?`, opID).
			Scan(&kind, &amount, &sendFee, &inputs); err != nil {
			return fmt.Errorf("state: record: op %d: %w", opID, err)
		}
		e.OpID, e.Sats, e.Fee = opID, amount, sendFee
		if kind != "send" {
			e.Fee = inputs - min(inputs, amount)
		}
		return d.Record(ctx, tx, e)
	}
}

// Totals sums the ledger by kind, since the given time (zero: all).
type Totals struct {
	Earned, Change, Spent, Refunded uint64
	// Fees is the mint fees our own payments (spend and change lines) cost
	// beyond their sats: the balance dropped by their sats plus Fees.
	Fees uint64
	// ReceiveFees is the mint fees of swapping the tokens we received (earn
	// and refund lines), which their payers put in the tokens on top of the
	// sats credited: informational, not paid from our balance. A written-off
	// earning's fee is not in it (it was never paid).
	ReceiveFees uint64
	// Lost is earnings accepted offline that the mint then refused.
	Lost uint64
	// Unconfirmed is the part of Earned accepted offline and not swapped
	// at the mint yet.
	Unconfirmed uint64
	// ByResource is net earnings (earn - change - lost) per resource.
	ByResource map[nips.Resource]uint64
	// Pending is the part of Spent and Change in tokens the payee has not
	// been seen to redeem yet: reclaimed automatically if it never does.
	Pending uint64
	// Reclaimed is the part of Refunded that came back by reclaiming our
	// own unredeemed tokens.
	Reclaimed uint64
}

// Net returns earned minus change and losses (a provider's earnings).
func (t Totals) Net() uint64 { return t.Earned - min(t.Earned, t.Change+t.Lost) }

// NetSpent returns spent minus refunds (a buyer's spend).
func (t Totals) NetSpent() uint64 { return t.Spent - min(t.Spent, t.Refunded) }

// Journal op states, as market/pay/journal names them.
const (
	opSent     = "sent"
	opQueued   = "queued"
	opDone     = "done"
	opFailed   = "failed"
	opRefunded = "refunded"
)

// counts reports how a line of kind counts given its op's state (""
// for a line with no op): counted at all, and for an earning whether it
// is unconfirmed (accepted offline, queued) or lost (accepted offline,
// refused by the mint).
func counts(kind, opState string, offline bool) (counted, unconfirmed, lost bool) {
	switch kind {
	case Earn:
		switch opState {
		case "", opDone:
			return true, false, false
		case opQueued:
			return true, true, false
		case opFailed:
			return offline, false, offline
		}
		return false, false, false // prepared: the mint has not answered yet
	case Spend, Change:
		return opState != opFailed, false, false
	case Refund:
		return opState == "" || opState == opDone || opState == opRefunded, false, false
	}
	return false, false, false
}

// Totals returns the ledger totals since since.
func (d *DB) Totals(ctx context.Context, since time.Time) (Totals, error) {
	return d.totals(ctx, `l.created_at >= ?`, since.Unix())
}

// TotalsBetween returns the ledger totals of the lines written in [from, to).
func (d *DB) TotalsBetween(ctx context.Context, from, to time.Time) (Totals, error) {
	return d.totals(ctx, `l.created_at >= ? AND l.created_at < ?`, from.Unix(), to.Unix())
}

// LedgerByResource sums the ledger lines of one resource (e.g. relay fees).
func (d *DB) LedgerByResource(ctx context.Context, resource string) (Totals, error) {
	return d.totals(ctx, `l.resource = ?`, resource)
}

func (d *DB) totals(ctx context.Context, where string, args ...any) (Totals, error) {
	t := Totals{ByResource: map[nips.Resource]uint64{}}
	rows, err := d.pay.QueryContext(ctx, `SELECT l.kind, l.resource, l.offline OR COALESCE(json_extract(o.data, '$.offline'), 0), COALESCE(o.state, ''), COALESCE(o.kind, ''), SUM(l.sats), SUM(l.fee)
		FROM ledger l LEFT JOIN ops o ON o.id = l.op_id WHERE `+where+` GROUP BY 1, 2, 3, 4, 5`, args...)
	if err != nil {
		return t, fmt.Errorf("state: totals: %w", err)
	}
	defer rows.Close()
	change := map[nips.Resource]uint64{}
	for rows.Next() {
		var kind, res, opState, opKind string
		var offline bool
		var sats, fee uint64
		if err := rows.Scan(&kind, &res, &offline, &opState, &opKind, &sats, &fee); err != nil {
			return t, fmt.Errorf("state: totals: %w", err)
		}
		counted, unconfirmed, lost := counts(kind, opState, offline)
		if !counted {
			continue
		}
		r := nips.Resource(res)
		switch kind {
		case Earn:
			t.Earned += sats
			t.ByResource[r] += sats
			switch {
			case lost:
				t.Lost += sats
				change[r] += sats
			case unconfirmed:
				t.Unconfirmed += sats
				t.ReceiveFees += fee
			default:
				t.ReceiveFees += fee
			}
		case Change:
			t.Change += sats
			t.Fees += fee
			change[r] += sats
		case Spend:
			t.Spent += sats
			t.Fees += fee
		case Refund:
			t.Refunded += sats
			t.ReceiveFees += fee
			if opKind == "reclaim" {
				t.Reclaimed += sats
			}
		}
		if (kind == Spend || kind == Change) && opState == opSent {
			t.Pending += sats
		}
	}
	if err := rows.Err(); err != nil {
		return t, fmt.Errorf("state: totals: %w", err)
	}
	for r, c := range change {
		t.ByResource[r] -= min(c, t.ByResource[r])
	}
	return t, nil
}

// Outstanding returns the send ops of the spend and change lines whose
// token is still out (op state sent), by op id: the payments agentd made
// for the market, which it reclaims if the payee never redeems them (a
// token the user sent by hand is left to the user).
func (d *DB) Outstanding(ctx context.Context) (map[int64]bool, error) {
	out := map[int64]bool{}
	rows, err := d.pay.QueryContext(ctx, `SELECT DISTINCT l.op_id FROM ledger l JOIN ops o ON o.id = l.op_id
		WHERE l.kind IN ('spend', 'change') AND o.state = 'sent'`)
	if err != nil {
		return nil, fmt.Errorf("state: outstanding: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("state: outstanding: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// RecordReclaim records, inside tx (the transaction that journals reclaim
// op opID of send op sendID, made at sentAt to counterparty), the refund
// of what the reclaim credits, under the session and resource of the
// send's ledger line, and gives its sats back to the budget of the send's
// day if the send was a spend (change is not counted in the budget). Both
// count once the reclaim op is done.
func (d *DB) RecordReclaim(ctx context.Context, tx *sql.Tx, sendID int64, counterparty string, sentAt time.Time, opID int64) error {
	session, kind, res := "reclaim", "", ""
	err := tx.QueryRowContext(ctx, `SELECT session, kind, resource FROM ledger WHERE op_id = ? AND kind IN ('spend', 'change') ORDER BY id LIMIT 1`, sendID).Scan(&session, &kind, &res)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("state: record reclaim: %w", err)
	}
	if err := d.Recorder(Entry{Session: session, Kind: Refund, Counterparty: counterparty, Resource: nips.Resource(res)})(ctx, tx, opID); err != nil {
		return err
	}
	if kind != Spend {
		return nil
	}
	var credit uint64
	if err := tx.QueryRowContext(ctx, `SELECT amount FROM ops WHERE id = ?`, opID).Scan(&credit); err != nil {
		return fmt.Errorf("state: record reclaim: %w", err)
	}
	return d.Release(ctx, tx, sentAt, counterparty, credit, opID)
}

// Unpay takes the sats of spend op sendID, once its reclaim is done, off
// the paid figure of the session its ledger line names: the callers that
// make a session's payments raise sessions.paid_msat by what each send nets
// (AddUsage), so a token taken back must come off it, or the session says
// it paid what its provider never got (a resumed session then pays for the
// same units again and reads as paying twice). A send of no session row
// (a relay fee, a walk-in) changes nothing. The wallet op and this record
// are in two databases: a crash between them leaves the record high by that
// token, never the money wrong.
func (d *DB) Unpay(ctx context.Context, sendID int64) error {
	var session string
	var sats uint64
	err := d.pay.QueryRowContext(ctx, `SELECT l.session, o.amount FROM ledger l JOIN ops o ON o.id = l.op_id
		WHERE l.op_id = ? AND l.kind = ? ORDER BY l.id LIMIT 1`, sendID, Spend).Scan(&session, &sats)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state: unpay send %d: %w", sendID, err)
	}
	return d.SubPaid(ctx, session, sats*1000)
}

// Reclaimer is RecordReclaim as a cashu.Wallet.ReclaimWith hook for send op
// sendID.
func (d *DB) Reclaimer(sendID int64, counterparty string, sentAt time.Time) func(ctx context.Context, tx *sql.Tx, opID int64) error {
	return func(ctx context.Context, tx *sql.Tx, opID int64) error {
		return d.RecordReclaim(ctx, tx, sendID, counterparty, sentAt, opID)
	}
}

// moveLedger copies the ledger and budget rows an older agentd kept in
// agentd.db (renamed moved_* by migration 0006) to the payment journal,
// then drops them. The copy keeps row ids and skips those present, so a
// crash between copy and drop repeats it harmlessly.
func (d *DB) moveLedger(ctx context.Context) error {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'moved_ledger'`).Scan(&n); err != nil {
		return fmt.Errorf("state: move ledger: %w", err)
	}
	if n == 0 {
		return nil
	}
	offline := map[int64]bool{}
	if err := queryEach(ctx, d.db, `SELECT op_id FROM moved_offline_earnings UNION SELECT op_id FROM moved_ledger WHERE kind = 'lost'`, func(r *sql.Rows) error {
		var id int64
		if err := r.Scan(&id); err != nil {
			return err
		}
		offline[id] = true
		return nil
	}); err != nil {
		return fmt.Errorf("state: move ledger: %w", err)
	}
	tx, err := d.pay.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("state: move ledger: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	err = queryEach(ctx, d.db, `SELECT id, session, kind, counterparty, resource, sats, fee, op_id, created_at FROM moved_ledger WHERE kind != 'lost'`, func(r *sql.Rows) error {
		var id, sats, fee, op, created int64
		var sess, kind, cp, res string
		if err := r.Scan(&id, &sess, &kind, &cp, &res, &sats, &fee, &op, &created); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO ledger (id, session, kind, counterparty, resource, sats, fee, op_id, offline, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, sess, kind, cp, res, sats, fee, op, kind == Earn && offline[op], created)
		return err
	})
	if err == nil {
		err = queryEach(ctx, d.db, `SELECT id, day, counterparty, sats, state FROM moved_budget`, func(r *sql.Rows) error {
			var id, sats int64
			var day, cp, st string
			if err := r.Scan(&id, &day, &cp, &sats, &st); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO budget (id, day, counterparty, sats, state) VALUES (?, ?, ?, ?, ?)`, id, day, cp, sats, st)
			return err
		})
	}
	if err == nil {
		err = tx.Commit()
	}
	if err == nil {
		_, err = d.db.ExecContext(ctx, `DROP TABLE moved_ledger; DROP TABLE moved_budget; DROP TABLE moved_offline_earnings`)
	}
	if err != nil {
		return fmt.Errorf("state: move ledger: %w", err)
	}
	return nil
}

func queryEach(ctx context.Context, db *sql.DB, q string, fn func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SessionSends returns what the spend lines of market session (payments
// to its provider) come to, the tokens handed out and not taken back (op
// state sent or done), and the send ops among them still out (sent: the
// provider may or may not have redeemed them).
func (d *DB) SessionSends(ctx context.Context, session string) (paid uint64, outstanding []int64, err error) {
	rows, err := d.pay.QueryContext(ctx, `SELECT l.op_id, l.sats, o.state FROM ledger l JOIN ops o ON o.id = l.op_id
		WHERE l.session = ? AND l.kind = ? AND o.state IN ('sent', 'done') ORDER BY l.id`, session, Spend)
	if err != nil {
		return 0, nil, fmt.Errorf("state: session sends: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var op int64
		var sats uint64
		var st string
		if err := rows.Scan(&op, &sats, &st); err != nil {
			return 0, nil, fmt.Errorf("state: session sends: %w", err)
		}
		paid += sats
		if st == "sent" {
			outstanding = append(outstanding, op)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("state: session sends: %w", err)
	}
	return paid, outstanding, nil
}
