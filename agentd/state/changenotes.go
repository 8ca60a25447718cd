package state

import (
	"context"
	"fmt"

	"github.com/sovmesh/sovmesh/nips"
)

// ChangeNote is a change note a provider owes a buyer: the token of the
// refund's send op OpID, to be published (kind 8466) until a relay accepts
// it (migrations/pay 0009).
type ChangeNote struct {
	OpID     int64
	Buyer    string
	Session  string
	Resource nips.Resource
	Sats     uint64
}

// AddChangeNote writes n inside tx, the transaction that journals its send
// op (the op's OnJournal hook), so the note is owed exactly when the
// refund is made.
func (d *DB) AddChangeNote(ctx context.Context, tx Execer, n ChangeNote) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO change_notes (op_id, buyer, session, resource, sats, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		n.OpID, n.Buyer, n.Session, string(n.Resource), n.Sats, d.now().Unix()); err != nil {
		return fmt.Errorf("state: change note: %w", err)
	}
	return nil
}

// OwedChangeNotes returns up to limit notes not yet published whose send
// op is still out (state 'sent'), oldest first. Notes whose op is not out
// any more (the buyer redeemed the token, the send failed, or the token
// came back) are dropped, published or not: there is nothing left to tell.
func (d *DB) OwedChangeNotes(ctx context.Context, limit int) ([]ChangeNote, error) {
	if _, err := d.pay.ExecContext(ctx, `DELETE FROM change_notes WHERE EXISTS
		(SELECT 1 FROM ops o WHERE o.id = change_notes.op_id AND o.state IN ('done', 'failed', 'refunded'))`); err != nil {
		return nil, fmt.Errorf("state: change notes: %w", err)
	}
	rows, err := d.pay.QueryContext(ctx, `SELECT n.op_id, n.buyer, n.session, n.resource, n.sats FROM change_notes n
		JOIN ops o ON o.id = n.op_id WHERE n.published_at IS NULL AND o.state = 'sent' ORDER BY n.op_id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("state: change notes: %w", err)
	}
	defer rows.Close()
	var out []ChangeNote
	for rows.Next() {
		var n ChangeNote
		var res string
		if err := rows.Scan(&n.OpID, &n.Buyer, &n.Session, &res, &n.Sats); err != nil {
			return nil, fmt.Errorf("state: change notes: %w", err)
		}
		n.Resource = nips.Resource(res)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: change notes: %w", err)
	}
	return out, nil
}

// ChangeNotePublished records that a relay accepted the note of op opID.
func (d *DB) ChangeNotePublished(ctx context.Context, opID int64) error {
	if _, err := d.pay.ExecContext(ctx, `UPDATE change_notes SET published_at = ? WHERE op_id = ?`, d.now().Unix(), opID); err != nil {
		return fmt.Errorf("state: change note %d: %w", opID, err)
	}
	return nil
}
