// Package journal is the durable record of sovmesh payments: one SQLite file
// (modernc, WAL, synchronous=FULL) per wallet, migration set "pay"; or, for
// the relay's wallet shared by several meshrelay processes, a PostgreSQL
// database (OpenPostgres, migration set "relaypg"). The SQL of the payment
// packages runs on both (internal/pgsqldb rewrites its placeholders).
//
// The rule every payment package follows: write the intent (an Op in state
// Prepared, with everything needed to finish or undo it), commit, act, then
// record the outcome. On start, the owner of the journal lists the open ops
// and finishes or refunds each of them.
package journal

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sovmesh/sovmesh/internal/sqlitedb"
)

// Op states. Prepared and the other non-final states are resumed on start.
const (
	StatePrepared = "prepared" // intent written, action not known to have happened
	StateSent     = "sent"     // a token was handed out; it may still be reclaimed
	StateQueued   = "queued"   // accepted offline; the swap at the mint is pending
	StateDone     = "done"     // final: delivered
	StateFailed   = "failed"   // final: nothing moved (or it was refunded)
	StateRefunded = "refunded" // final: a sent token came back to us
)

// ErrNotFound is returned for an unknown op.
var ErrNotFound = errors.New("journal: op not found")

// Journal is an open payment journal.
type Journal struct {
	db *sql.DB
	pg *pgOwner // nil on SQLite
}

// Op is one journaled payment operation.
type Op struct {
	ID           int64
	Kind         string
	State        string
	Mint         string
	Amount       uint64
	Counterparty string
	Data         json.RawMessage
	Error        string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Open opens (creating if needed) the journal file at path.
func Open(ctx context.Context, path string) (*Journal, error) {
	db, err := sqlitedb.Open(ctx, path, "pay")
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &Journal{db: db}, nil
}

// Close closes the database (on PostgreSQL, releasing this process's owner
// lock: its open ops are then resumed by the next process that starts).
func (j *Journal) Close() error {
	var err error
	if j.pg != nil {
		err = j.pg.close()
	}
	return errors.Join(err, j.db.Close())
}

// DB returns the database, for the payment packages that keep their tables in
// the journal file.
func (j *Journal) DB() *sql.DB { return j.db }

// Tx runs fn in one immediate transaction and commits it if fn returns nil.
// Transactions run one at a time: SQLite has one writer per file; on
// PostgreSQL each one first takes the wallet's transaction lock, so those
// of several processes are serialized too.
func (j *Journal) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if j.pg != nil {
		j.pg.txMu.Lock()
		defer j.pg.txMu.Unlock()
	}
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("journal: begin: %w", err)
	}
	if j.pg != nil {
		if err := j.pg.lockTx(ctx, tx); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("journal: commit: %w", err)
	}
	return nil
}

// Insert writes a new op inside tx and returns its id.
func Insert(ctx context.Context, tx *sql.Tx, op Op) (int64, error) {
	now := time.Now().Unix()
	if op.Data == nil {
		op.Data = json.RawMessage("{}")
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO ops (kind, state, mint, amount, counterparty, data, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, op.Kind, op.State, op.Mint, int64(op.Amount), op.Counterparty, string(op.Data), now, now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("journal: insert op: %w", err)
	}
	return id, nil
}

// SetState records an op's new state (and data, when not nil) inside tx.
// errText is a short description for failed ops; it never holds secrets.
func SetState(ctx context.Context, tx *sql.Tx, id int64, state string, data json.RawMessage, errText string) error {
	var err error
	now := time.Now().Unix()
	if data != nil {
		_, err = tx.ExecContext(ctx, `UPDATE ops SET state = ?, data = ?, error = ?, updated_at = ? WHERE id = ?`, state, string(data), errText, now, id)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE ops SET state = ?, error = ?, updated_at = ? WHERE id = ?`, state, errText, now, id)
	}
	if err != nil {
		return fmt.Errorf("journal: update op %d: %w", id, err)
	}
	return nil
}

// Get returns one op.
func (j *Journal) Get(ctx context.Context, id int64) (Op, error) {
	rows, err := j.db.QueryContext(ctx, opSelect+` WHERE id = ?`, id)
	if err != nil {
		return Op{}, fmt.Errorf("journal: get op: %w", err)
	}
	ops, err := scanOps(rows)
	if err != nil {
		return Op{}, err
	}
	if len(ops) == 0 {
		return Op{}, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	return ops[0], nil
}

// List returns the ops in the given states (all ops if none), oldest first.
func (j *Journal) List(ctx context.Context, states ...string) ([]Op, error) {
	q := opSelect
	args := make([]any, 0, len(states))
	if len(states) > 0 {
		q += ` WHERE state IN (?` + repeat(",?", len(states)-1) + `)`
		for _, s := range states {
			args = append(args, s)
		}
	}
	rows, err := j.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("journal: list ops: %w", err)
	}
	return scanOps(rows)
}

const opSelect = `SELECT id, kind, state, mint, amount, counterparty, data, error, created_at, updated_at FROM ops`

func scanOps(rows *sql.Rows) ([]Op, error) {
	defer rows.Close()
	var out []Op
	for rows.Next() {
		var op Op
		var amount, created, updated int64
		var data string
		if err := rows.Scan(&op.ID, &op.Kind, &op.State, &op.Mint, &amount, &op.Counterparty, &data, &op.Error, &created, &updated); err != nil {
			return nil, fmt.Errorf("journal: scan op: %w", err)
		}
		op.Amount = uint64(amount)
		op.Data = json.RawMessage(data)
		op.CreatedAt, op.UpdatedAt = time.Unix(created, 0), time.Unix(updated, 0)
		out = append(out, op)
	}
	return out, rows.Err()
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}
