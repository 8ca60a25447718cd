package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// groupCommit is the queue of groupTx: transactions waiting to commit
// together. The zero value is ready.
type groupCommit struct {
	busy  bool // a batch is committing, or its committer is handing over
	queue []*groupReq
}

type groupReq struct {
	fn   func(*sql.Tx) error
	done chan error // the outcome, or errLeadBatch
}

// errLeadBatch tells a waiting groupTx that it commits the next batch.
var errLeadBatch = errors.New("state: commit the next batch")

// groupTx runs fn in a transaction shared with the other groupTx calls
// waiting at the time (group commit): a call arriving while a batch
// commits joins the next batch, and returns once its own batch is
// committed (durable: one WAL fsync for the batch). Each fn runs in a
// savepoint of its own, so fn's error rolls back fn's writes only and is
// returned to its caller alone; a failed commit fails the whole batch.
// For the writes made for every chunk or stripe of a transfer, which
// arrive from many streams at once: one transaction and fsync each was a
// serial cost on the data path.
func (d *DB) groupTx(ctx context.Context, fn func(*sql.Tx) error) error {
	r := &groupReq{fn: fn, done: make(chan error, 1)}
	d.gmu.Lock()
	d.group.queue = append(d.group.queue, r)
	if d.group.busy {
		d.gmu.Unlock()
		if err := <-r.done; err != errLeadBatch {
			return err
		}
		d.gmu.Lock()
	}
	d.group.busy = true
	batch := d.group.queue
	d.group.queue = nil
	d.gmu.Unlock()

	errs := make([]error, len(batch))
	// The batch is everyone's: the committer's cancellation does not end it.
	ctx = context.WithoutCancel(ctx)
	err := d.tx(ctx, func(tx *sql.Tx) error {
		for i, b := range batch {
			if err := d.txExec(ctx, tx, `SAVEPOINT grouptx`); err != nil {
				return err
			}
			if errs[i] = b.fn(tx); errs[i] != nil {
				if err := d.txExec(ctx, tx, `ROLLBACK TO grouptx`); err != nil {
					return err
				}
			}
			if err := d.txExec(ctx, tx, `RELEASE grouptx`); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("state: group commit: %w", err)
	}
	var mine error
	for i, b := range batch {
		e := err
		if e == nil {
			e = errs[i]
		}
		if b == r {
			mine = e
		} else {
			b.done <- e
		}
	}
	d.gmu.Lock()
	if len(d.group.queue) > 0 {
		d.group.queue[0].done <- errLeadBatch // it takes the whole queue
	} else {
		d.group.busy = false
	}
	d.gmu.Unlock()
	return mine
}

// stmtCache holds statements prepared once on the database, by query.
// SQLite compiles a statement each time it runs one given as text (about
// as much CPU as running it, for the small writes made per chunk).
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// txStmt returns query prepared (once per database connection) for use in
// tx.
func (d *DB) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	d.stmts.mu.Lock()
	st, ok := d.stmts.m[query]
	if !ok {
		var err error
		if st, err = d.db.PrepareContext(ctx, query); err != nil {
			d.stmts.mu.Unlock()
			return nil, err
		}
		if d.stmts.m == nil {
			d.stmts.m = map[string]*sql.Stmt{}
		}
		d.stmts.m[query] = st
	}
	d.stmts.mu.Unlock()
	return tx.StmtContext(ctx, st), nil
}

// txExec runs query, prepared once, in tx.
func (d *DB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	st, err := d.txStmt(ctx, tx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		_ = st.Close()
	}
	c.m = nil
}
