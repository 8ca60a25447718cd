package journal

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/sovmesh/sovmesh/internal/pgsqldb"
	"github.com/sovmesh/sovmesh/migrations"
)

// pgOwner is this process's identity in a shared PostgreSQL journal: a
// session advisory lock (migrations.PGOwnerClass, id) held on a connection
// of its own for as long as the journal is open. The ops this process
// writes carry id as their owner, so another process can tell an op in
// flight (owner's lock held) from one left by a process that stopped. A
// watcher checks the lock's connection every OwnerCheckEvery and, when it
// has been lost (the server restarted, the connection broke), takes the
// lock again on a new one.
//
// txMu keeps this process's wallet transactions to one at a time before
// they take a connection: they would wait for the lock anyway, and so a
// transaction that reads on a second connection always finds one free.
type pgOwner struct {
	id   int64
	db   *sql.DB
	txMu sync.Mutex

	mu   sync.Mutex
	conn *sql.Conn // holds the lock; nil while it is lost

	stop context.CancelFunc
	done chan struct{}
}

// pgMaxConns bounds the journal's connections: the owner lock's, the one
// transaction's, and reads.
const pgMaxConns = 5

// OwnerCheckEvery is how often a PostgreSQL journal checks the connection
// that holds its owner lock.
const OwnerCheckEvery = time.Second

// OpenPostgres opens the journal in the PostgreSQL database at url (shared
// by every meshrelay process on it), applying the "relaypg" migrations.
func OpenPostgres(ctx context.Context, url string) (*Journal, error) {
	db, err := pgsqldb.Open(ctx, url, "relaypg")
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	db.SetMaxOpenConns(pgMaxConns)
	// A random positive int4; another is drawn if a process holds it.
	for range 16 {
		var b [4]byte
		_, _ = rand.Read(b[:])
		o := &pgOwner{id: int64(binary.BigEndian.Uint32(b[:])&0x7fffffff) | 1, db: db, done: make(chan struct{})}
		ok, err := o.lock(ctx)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("journal: owner lock: %w", err)
		}
		if ok {
			wctx, stop := context.WithCancel(context.Background())
			o.stop = stop
			go o.watch(wctx)
			return &Journal{db: db, pg: o}, nil
		}
	}
	db.Close()
	return nil, fmt.Errorf("journal: could not take an owner lock")
}

// lock takes the owner lock on a connection of its own.
func (o *pgOwner) lock(ctx context.Context) (bool, error) {
	conn, err := o.db.Conn(ctx)
	if err != nil {
		return false, err
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(?, ?)`, migrations.PGOwnerClass, o.id).Scan(&ok); err != nil || !ok {
		conn.Close()
		return false, err
	}
	o.mu.Lock()
	o.conn = conn
	o.mu.Unlock()
	return true, nil
}

// watch checks the lock's connection until ctx ends, taking the lock again
// when it was lost.
func (o *pgOwner) watch(ctx context.Context) {
	defer close(o.done)
	tick := time.NewTicker(OwnerCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		o.mu.Lock()
		conn := o.conn
		o.mu.Unlock()
		if conn != nil {
			cctx, cancel := context.WithTimeout(ctx, OwnerCheckEvery)
			err := conn.PingContext(cctx)
			cancel()
			if err == nil || ctx.Err() != nil {
				continue
			}
			conn.Close() // a broken connection is discarded, not pooled
			o.mu.Lock()
			o.conn = nil
			o.mu.Unlock()
		}
		_, _ = o.lock(ctx) // tried again at the next tick if it fails
	}
}

// close stops the watcher and releases the lock (its connection is closed
// with the pool, ending its session).
func (o *pgOwner) close() error {
	o.stop()
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.conn == nil {
		return nil
	}
	err := o.conn.Close()
	o.conn = nil
	return err
}

// lockTx takes the wallet's transaction lock for tx and names this process
// as the owner of the ops tx inserts (the ops.owner column's default).
func (o *pgOwner) lockTx(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?, ?), set_config('sovmesh.journal_owner', ?, true)`,
		migrations.PGLockClass, migrations.PGWalletLock, strconv.FormatInt(o.id, 10)); err != nil {
		return fmt.Errorf("journal: lock: %w", err)
	}
	return nil
}

// Claim returns the ops in the given states that this process may resume,
// oldest first. On SQLite that is every one (a file has one process). On
// PostgreSQL it is this process's own ops and those whose owner has stopped
// (holds no owner lock), which it claims; an op another running process
// owns is left to that process.
func (j *Journal) Claim(ctx context.Context, states ...string) ([]Op, error) {
	if j.pg == nil {
		return j.List(ctx, states...)
	}
	var out []Op
	err := j.Tx(ctx, func(tx *sql.Tx) error {
		q := `SELECT id FROM ops WHERE owner != ? AND owner NOT IN (SELECT objid::bigint FROM pg_locks
			WHERE locktype = 'advisory' AND classid = ? AND objsubid = 2 AND granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`
		args := []any{j.pg.id, migrations.PGOwnerClass}
		if len(states) > 0 {
			q += ` AND state IN (?` + repeat(",?", len(states)-1) + `)`
			for _, s := range states {
				args = append(args, s)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE ops SET owner = ? WHERE id IN (`+q+`)`, append([]any{j.pg.id}, args...)...); err != nil {
			return fmt.Errorf("journal: claim ops: %w", err)
		}
		q = opSelect + ` WHERE owner = ?`
		args = []any{j.pg.id}
		if len(states) > 0 {
			q += ` AND state IN (?` + repeat(",?", len(states)-1) + `)`
			for _, s := range states {
				args = append(args, s)
			}
		}
		rows, err := tx.QueryContext(ctx, q+` ORDER BY id`, args...)
		if err != nil {
			return fmt.Errorf("journal: list ops: %w", err)
		}
		out, err = scanOps(rows)
		return err
	})
	return out, err
}
