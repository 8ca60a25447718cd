package tab

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// CloseTab closes the buyer's open tab and returns its change: the balance
// plus the value of carried units, as a token (locked to the buyer when
// Config.LockChange). The tab moves to closing first, so nothing more is
// drawn from or deposited into it; the change is then a journaled send tied
// to the tab in the same transaction. ErrPending when a deposit's outcome is
// not known yet (retry after the wallet's Resume). Units already granted to
// running streams stay theirs.
func (k *Keeper) CloseTab(ctx context.Context, buyer string) (Change, error) {
	var id string
	err := k.j.Tx(ctx, func(tx *sql.Tx) error {
		t, err := openTab(ctx, tx, buyer)
		if err != nil {
			return err
		}
		var open int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tab_deposits d JOIN ops o ON o.id = d.op_id
			WHERE d.tab_id = ? AND o.state = ?`, t.ID, journal.StatePrepared).Scan(&open); err != nil {
			return fmt.Errorf("tab: close: %w", err)
		}
		if open > 0 {
			return ErrPending
		}
		id = t.ID
		_, err = tx.ExecContext(ctx, `UPDATE tabs SET state = 'closing', deposited = ?, updated_at = ? WHERE id = ?`,
			int64(t.Deposited), time.Now().Unix(), t.ID)
		return err
	})
	if err != nil {
		return Change{}, err
	}
	return k.settle(ctx, id)
}

// settle sends (or finds) the change of a closing tab and closes it.
func (k *Keeper) settle(ctx context.Context, id string) (Change, error) {
	t, err := k.Get(ctx, id)
	if err != nil {
		return Change{}, err
	}
	change := t.Balance() + carrySats(t)
	if t.State == StateClosed {
		return k.Change(ctx, id)
	}
	if t.State != StateClosing {
		return Change{}, fmt.Errorf("tab: settle %s: state %s", id, t.State)
	}
	if t.ChangeOp != 0 {
		op, err := k.j.Get(ctx, t.ChangeOp)
		if err != nil {
			return Change{}, err
		}
		switch op.State {
		case journal.StateSent, journal.StateDone, journal.StateRefunded:
			return k.closed(ctx, t, change)
		case journal.StateFailed:
			// The mint refused the change's swap: nothing left the wallet.
			// Unlink it and send again.
			if _, err := k.j.DB().ExecContext(ctx, `UPDATE tabs SET change_op = NULL WHERE id = ? AND change_op = ?`, id, t.ChangeOp); err != nil {
				return Change{}, err
			}
			t.ChangeOp = 0
		default:
			return Change{}, ErrPending // the wallet's Resume finishes it
		}
	}
	if change == 0 {
		return k.closed(ctx, t, 0)
	}
	opts := cashu.SendOptions{Mint: t.Mint, Counterparty: t.Buyer, Memo: "sovmesh tab change", IncludeFees: true,
		OnJournal: func(ctx context.Context, tx *sql.Tx, opID int64) error {
			res, err := tx.ExecContext(ctx, `UPDATE tabs SET change_op = ?, updated_at = ? WHERE id = ? AND state = 'closing' AND change_op IS NULL`,
				opID, time.Now().Unix(), id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("tab: %s: change already made", id)
			}
			return nil
		}}
	if k.cfg.LockChange {
		opts.Lock = &cashu.Lock{Pubkey: t.Buyer, Locktime: time.Now().Add(k.cfg.ChangeRefundAfter).Unix()}
	}
	sent, err := k.w.Send(ctx, change, opts)
	if err != nil {
		if errors.Is(err, cashu.ErrPending) || errors.Is(err, cashu.ErrCrashed) {
			return Change{}, fmt.Errorf("%w: %w", ErrPending, err)
		}
		return Change{}, fmt.Errorf("tab: change of %s: %w", id, err)
	}
	t.ChangeOp = sent.OpID
	return k.closed(ctx, t, change)
}

func (k *Keeper) closed(ctx context.Context, t Tab, change uint64) (Change, error) {
	if _, err := k.j.DB().ExecContext(ctx, `UPDATE tabs SET state = 'closed', updated_at = ? WHERE id = ?`, time.Now().Unix(), t.ID); err != nil {
		return Change{}, fmt.Errorf("tab: close %s: %w", t.ID, err)
	}
	k.log.Info("tab closed", "tab", t.ID, "buyer", t.Buyer, "deposited", t.Deposited, "debited", t.Debited, "change", change)
	return k.Change(ctx, t.ID)
}

// Change returns the change of a closed tab, to deliver it (again).
func (k *Keeper) Change(ctx context.Context, id string) (Change, error) {
	t, err := k.Get(ctx, id)
	if err != nil {
		return Change{}, err
	}
	if t.State != StateClosed {
		return Change{}, fmt.Errorf("tab: %s is %s, not closed", id, t.State)
	}
	c := Change{TabID: id}
	if t.ChangeOp == 0 {
		return c, nil
	}
	op, err := k.j.Get(ctx, t.ChangeOp)
	if err != nil {
		return Change{}, err
	}
	c.OpID, c.Amount = op.ID, op.Amount
	if c.Token, err = k.w.Token(ctx, op.ID); err != nil {
		return Change{}, err
	}
	return c, nil
}

// Resume finishes closing the tabs a previous run left closing: it sends
// the change that was not made, or records the change the wallet made.
// Call it at start, after the wallet's Resume. It returns the tabs closed.
func (k *Keeper) Resume(ctx context.Context) (int, error) {
	rows, err := k.j.DB().QueryContext(ctx, `SELECT id FROM tabs WHERE state = 'closing' ORDER BY created_at`)
	if err != nil {
		return 0, fmt.Errorf("tab: resume: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	n := 0
	var errs []error
	for _, id := range ids {
		if _, err := k.settle(ctx, id); err != nil {
			if !errors.Is(err, ErrPending) {
				errs = append(errs, err)
			}
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// CloseIdle closes the open tabs untouched for idle (no deposit, draw or
// stream end) and with no stream running, and returns their changes to
// deliver. A tab whose change cannot be made now stays closing for Resume.
func (k *Keeper) CloseIdle(ctx context.Context, idle time.Duration) ([]Change, error) {
	rows, err := k.j.DB().QueryContext(ctx, `SELECT id, counterparty FROM tabs WHERE state = 'open' AND updated_at < ? ORDER BY updated_at`,
		time.Now().Add(-idle).Unix())
	if err != nil {
		return nil, fmt.Errorf("tab: idle tabs: %w", err)
	}
	type idleTab struct{ id, buyer string }
	var tabs []idleTab
	for rows.Next() {
		var t idleTab
		if err := rows.Scan(&t.id, &t.buyer); err != nil {
			rows.Close()
			return nil, err
		}
		tabs = append(tabs, t)
	}
	rows.Close()
	var out []Change
	var errs []error
	for _, t := range tabs {
		if k.streaming(t.id) {
			continue
		}
		ch, err := k.CloseTab(ctx, t.buyer)
		if err != nil {
			if !errors.Is(err, ErrPending) && !errors.Is(err, ErrNoTab) {
				errs = append(errs, err)
			}
			continue
		}
		out = append(out, ch)
	}
	return out, errors.Join(errs...)
}

// streaming reports whether a stream drawing on tab id is running.
func (k *Keeper) streaming(id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, st := range k.streams {
		if st.tab == id {
			return true
		}
	}
	return false
}
