package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/fiatjaf/eventstore"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/eventsql"
)

type opKind int

const (
	opSave opKind = iota
	opReplace
	opDelete
	opPurge
)

// request is one write waiting for the writer. done receives exactly one
// result, after the transaction holding the write committed (or failed).
type request struct {
	op      opKind
	row     *eventsql.Row // opSave, opReplace
	id      []byte        // opDelete
	now     int64         // opPurge: delete events expiring at or before now
	limit   int           // opPurge: delete at most limit events
	deleted int           // opPurge: set to the number deleted
	done    chan error
}

// SaveEvent stores evt and returns once it is durably committed. It returns
// eventstore.ErrDupEvent when an event with the same id is stored.
func (s *Store) SaveEvent(ctx context.Context, evt *nostr.Event) error {
	r, err := eventsql.Encode(evt)
	if err != nil {
		return err
	}
	return s.do(ctx, &request{op: opSave, row: r})
}

// ReplaceEvent stores a replaceable (kind 0, 3, 10000-19999) or addressable
// (30000-39999, keyed by kind, pubkey and d tag) event and deletes the
// versions it replaces, in one transaction. The newest version wins; on equal
// created_at the lowest id wins. It returns eventstore.ErrDupEvent when evt
// itself is stored, ErrNewerVersion when a version that wins over evt is
// stored (nothing is written), and ErrNotReplaceable for other kinds.
func (s *Store) ReplaceEvent(ctx context.Context, evt *nostr.Event) error {
	r, err := eventsql.Encode(evt)
	if err != nil {
		return err
	}
	if !nostr.IsReplaceableKind(evt.Kind) && !nostr.IsAddressableKind(evt.Kind) {
		return fmt.Errorf("%w: kind %d", ErrNotReplaceable, evt.Kind)
	}
	return s.do(ctx, &request{op: opReplace, row: r})
}

// DeleteEvent deletes the event with evt's id and its tags; deleting an event
// that is not stored is not an error. It returns once the deletion is
// committed.
func (s *Store) DeleteEvent(ctx context.Context, evt *nostr.Event) error {
	if evt == nil {
		return fmt.Errorf("%w: nil event", ErrInvalidEvent)
	}
	id, err := eventsql.DecodeID(evt.ID)
	if err != nil {
		return err
	}
	return s.do(ctx, &request{op: opDelete, id: id})
}

// do queues req and waits for its result. If ctx ends first it returns the
// context's error; the write may still commit.
func (s *Store) do(ctx context.Context, req *request) error {
	req.done = make(chan error, 1)
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("event store write: %w (it may still commit)", ctx.Err())
	}
}

// walCheckpointPages is the WAL size (in 4 KiB pages, so about 40 MB) at
// which a commit also checkpoints. SQLite's default of 1000 checkpoints every
// few group commits at ingest rates and nearly halves throughput; a larger
// WAL writes each hot index page back once per checkpoint instead.
const walCheckpointPages = 10000

// writer owns the one write connection and its prepared statements.
type writer struct {
	s    *Store
	conn *sql.Conn
	ctx  context.Context // never cancelled: queued writes are flushed on Close

	insertEvent, insertTag                     *sql.Stmt
	findReplaceable, findAddressable           *sql.Stmt
	findByID, deleteTags, deleteEvent, expired *sql.Stmt
	begin, commit, rollback                    *sql.Stmt
}

func newWriter(s *Store) (*writer, error) {
	ctx := context.Background()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("writer connection: %w", err)
	}
	w := &writer{s: s, conn: conn, ctx: ctx}
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_autocheckpoint="+strconv.Itoa(walCheckpointPages)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("writer connection: %w", err)
	}
	for _, p := range []struct {
		dst *(*sql.Stmt)
		sql string
	}{
		{&w.insertEvent, `INSERT INTO events (id, pubkey, created_at, kind, expires_at, dtag, raw)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`},
		{&w.insertTag, `INSERT OR IGNORE INTO tags (name, value, created_at, id, kind, seq) VALUES (?, ?, ?, ?, ?, ?)`},
		{&w.findReplaceable, `SELECT seq, created_at, id FROM events INDEXED BY events_pubkey_kind WHERE pubkey = ? AND kind = ?`},
		{&w.findAddressable, `SELECT seq, created_at, id FROM events INDEXED BY events_addr WHERE pubkey = ? AND kind = ? AND dtag = ?`},
		{&w.findByID, `SELECT seq FROM events WHERE id = ?`},
		{&w.deleteTags, `DELETE FROM tags WHERE seq = ?`},
		{&w.deleteEvent, `DELETE FROM events WHERE seq = ?`},
		{&w.expired, `SELECT seq FROM events INDEXED BY events_expires WHERE expires_at <= ? LIMIT ?`},
		{&w.begin, `BEGIN IMMEDIATE`},
		{&w.commit, `COMMIT`},
		{&w.rollback, `ROLLBACK`},
	} {
		st, err := conn.PrepareContext(ctx, p.sql)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.dst = st
	}
	return w, nil
}

// run commits queued requests in groups until the queue is closed and empty.
func (w *writer) run() {
	defer w.conn.Close()
	size := w.s.cfg.batchSize
	batch := make([]*request, 0, size)
	var timer *time.Timer
	for {
		req, ok := <-w.s.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], req)
		open := true
	fill:
		for open && len(batch) < size {
			select {
			case r, ok := <-w.s.reqs:
				if !ok {
					open = false
					break fill
				}
				batch = append(batch, r)
				continue
			default:
			}
			if w.s.cfg.batchWait <= 0 {
				break
			}
			if timer == nil {
				timer = time.NewTimer(w.s.cfg.batchWait)
			} else {
				timer.Reset(w.s.cfg.batchWait)
			}
			select {
			case r, ok := <-w.s.reqs:
				timer.Stop()
				if !ok {
					open = false
					break fill
				}
				batch = append(batch, r)
			case <-timer.C:
				break fill
			}
		}
		w.commitBatch(batch)
		if !open {
			// Close closed the queue while we were filling; drain what is left.
			for r := range w.s.reqs {
				w.commitBatch([]*request{r})
			}
			return
		}
	}
}

// commitBatch applies batch in one transaction. If the transaction fails as
// a whole, every request is retried in a transaction of its own so one bad
// write cannot fail the others.
func (w *writer) commitBatch(batch []*request) {
	results := make([]error, len(batch))
	err := w.tx(func() error {
		for i, r := range batch {
			res, err := w.apply(r)
			if err != nil {
				return err
			}
			results[i] = res
		}
		return nil
	})
	if err == nil {
		for i, r := range batch {
			r.done <- results[i]
		}
		return
	}
	if len(batch) == 1 {
		batch[0].done <- err
		return
	}
	w.s.log.Warn("event store batch failed; retrying writes one by one", "writes", len(batch), "err", err)
	for _, r := range batch {
		var res error
		err := w.tx(func() error {
			var err error
			res, err = w.apply(r)
			return err
		})
		if err != nil {
			res = err
		}
		r.done <- res
	}
}

// tx runs f between BEGIN IMMEDIATE and COMMIT, rolling back if f fails.
func (w *writer) tx(f func() error) error {
	if _, err := w.begin.ExecContext(w.ctx); err != nil {
		return fmt.Errorf("event store begin: %w", err)
	}
	if err := f(); err != nil {
		if _, rerr := w.rollback.ExecContext(w.ctx); rerr != nil {
			w.s.log.Warn("event store rollback", "err", rerr)
		}
		return err
	}
	if _, err := w.commit.ExecContext(w.ctx); err != nil {
		if _, rerr := w.rollback.ExecContext(w.ctx); rerr != nil {
			w.s.log.Warn("event store rollback", "err", rerr)
		}
		return fmt.Errorf("event store commit: %w", err)
	}
	return nil
}

// apply executes one request inside the open transaction. res is the
// request's outcome (nil, ErrDupEvent, ErrNewerVersion); err is a database
// failure that aborts the transaction.
func (w *writer) apply(r *request) (res, err error) {
	switch r.op {
	case opSave:
		return w.insert(r.row)
	case opReplace:
		return w.replace(r.row)
	case opDelete:
		var seq int64
		switch err := w.findByID.QueryRowContext(w.ctx, r.id).Scan(&seq); {
		case errors.Is(err, sql.ErrNoRows):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("event store find for delete: %w", err)
		}
		return nil, w.remove(seq)
	case opPurge:
		return nil, w.purge(r)
	}
	return nil, fmt.Errorf("event store: unknown write %d", r.op)
}

func (w *writer) insert(r *eventsql.Row) (res, err error) {
	out, err := w.insertEvent.ExecContext(w.ctx, r.ID, r.PubKey, r.CreatedAt, r.Kind, r.ExpiresAt, dtag(r), r.Raw)
	if err != nil {
		return nil, fmt.Errorf("event store insert event: %w", err)
	}
	if n, err := out.RowsAffected(); err != nil {
		return nil, fmt.Errorf("event store insert event: %w", err)
	} else if n == 0 {
		return eventstore.ErrDupEvent, nil
	}
	seq, err := out.LastInsertId()
	if err != nil {
		return nil, fmt.Errorf("event store insert event: %w", err)
	}
	for _, t := range r.Tags {
		if _, err := w.insertTag.ExecContext(w.ctx, t[0], t[1], r.CreatedAt, r.ID, r.Kind, seq); err != nil {
			return nil, fmt.Errorf("event store insert tag: %w", err)
		}
	}
	return nil, nil
}

func (w *writer) replace(r *eventsql.Row) (res, err error) {
	var rows *sql.Rows
	if r.Addressable {
		rows, err = w.findAddressable.QueryContext(w.ctx, r.PubKey, r.Kind, r.DTag)
	} else {
		rows, err = w.findReplaceable.QueryContext(w.ctx, r.PubKey, r.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("event store find replaced: %w", err)
	}
	var older []int64
	for rows.Next() {
		var (
			seq int64
			ts  int64
			id  []byte
		)
		if err := rows.Scan(&seq, &ts, &id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("event store find replaced: %w", err)
		}
		switch r.Against(ts, id) {
		case eventsql.SameEvent:
			rows.Close()
			return eventstore.ErrDupEvent, nil
		case eventsql.Newer:
			res = ErrNewerVersion
		case eventsql.Older:
			older = append(older, seq)
		}
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("event store find replaced: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("event store find replaced: %w", err)
	}
	if res != nil {
		return res, nil
	}
	for _, seq := range older {
		if err := w.remove(seq); err != nil {
			return nil, err
		}
	}
	return w.insert(r)
}

func (w *writer) remove(seq int64) error {
	if _, err := w.deleteTags.ExecContext(w.ctx, seq); err != nil {
		return fmt.Errorf("event store delete tags: %w", err)
	}
	if _, err := w.deleteEvent.ExecContext(w.ctx, seq); err != nil {
		return fmt.Errorf("event store delete event: %w", err)
	}
	return nil
}

func (w *writer) purge(r *request) error {
	rows, err := w.expired.QueryContext(w.ctx, r.now, r.limit)
	if err != nil {
		return fmt.Errorf("event store find expired: %w", err)
	}
	var seqs []int64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			rows.Close()
			return fmt.Errorf("event store find expired: %w", err)
		}
		seqs = append(seqs, seq)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("event store find expired: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("event store find expired: %w", err)
	}
	for _, seq := range seqs {
		if err := w.remove(seq); err != nil {
			return err
		}
	}
	r.deleted = len(seqs)
	return nil
}

// dtag is r's d tag for the dtag column: NULL unless its kind is addressable.
func dtag(r *eventsql.Row) sql.NullString {
	return sql.NullString{String: r.DTag, Valid: r.Addressable}
}
