package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sovmesh/sovmesh/nips"
)

// creditSettled is the condition under which credit line c will count as
// it counts now for ever: a line with no op (usage), or one whose op is
// final for counting (a receive done or failed, a send handed over,
// delivered, taken back or failed). A receive not yet swapped (prepared,
// queued) or a send not yet handed over may still change.
const creditSettled = `(c.op_id = 0 OR EXISTS (SELECT 1 FROM ops o WHERE o.id = c.op_id AND
	(o.state IN ('done', 'failed', 'refunded') OR (o.kind = 'send' AND o.state = 'sent'))))`

// CompactCredit folds the settled lines (creditSettled) of each closed
// session's credit on resource r into one line of their sum (none when it
// is 0), so credit_lines stays about one line per closed session however
// many payments and streams it had. Each session's credit is exactly what
// it was: the lines that count are summed, the lines that do not are
// dropped, and lines that may still change (an op in flight) and the lines
// moved from an older agentd.db (movedOp, the mark of that move) are kept
// as they are. It returns how many lines it removed.
func (d *DB) CompactCredit(ctx context.Context, r nips.Resource) (int, error) {
	type key struct{ buyer, session string }
	var keys []key
	rows, err := d.pay.QueryContext(ctx, `SELECT buyer, session FROM credit_lines WHERE resource = ? AND session != ''
		GROUP BY 1, 2 HAVING COUNT(*) > 1`, string(r))
	if err != nil {
		return 0, fmt.Errorf("state: compact credit: %w", err)
	}
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.buyer, &k.session); err != nil {
			rows.Close()
			return 0, fmt.Errorf("state: compact credit: %w", err)
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("state: compact credit: %w", err)
	}
	removed := 0
	var errs []error
	for _, k := range keys {
		s, err := d.GetSession(ctx, k.session)
		if err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		if err == nil && s.State == "open" {
			continue
		}
		n, err := d.compactSession(ctx, k.buyer, r, k.session)
		if err != nil {
			errs = append(errs, fmt.Errorf("state: compact credit of session %s: %w", k.session, err))
			continue
		}
		removed += n
	}
	return removed, errors.Join(errs...)
}

// compactSession folds one closed session's settled lines in one
// transaction: the lines read are the lines deleted, by id.
func (d *DB) compactSession(ctx context.Context, buyer string, r nips.Resource, session string) (int, error) {
	removed := 0
	err := d.payTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT c.id, c.units, `+creditCounts+` FROM credit_lines c
			WHERE c.buyer = ? AND c.resource = ? AND c.session = ? AND c.op_id >= 0 AND `+creditSettled,
			buyer, string(r), session)
		if err != nil {
			return err
		}
		var ids []int64
		var sum int64
		for rows.Next() {
			var id, units int64
			var counts bool
			if err := rows.Scan(&id, &units, &counts); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
			if counts {
				sum += units // each line is within ±2^62: two never overflow
				if sum > maxCreditUnits || sum < -maxCreditUnits {
					rows.Close()
					return nil // too large to fold into one line: keep them
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) < 2 && (len(ids) == 0 || sum != 0) {
			return nil // nothing to fold
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `DELETE FROM credit_lines WHERE id = ?`, id); err != nil {
				return err
			}
		}
		removed = len(ids)
		if sum == 0 {
			return nil
		}
		removed--
		return d.AddCreditLine(ctx, tx, CreditLine{Buyer: buyer, Resource: r, Session: session, Units: sum})
	})
	return removed, err
}
