package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"runtime"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/eventsql"
)

// queryBuffer is how many decoded events wait in a query's channel.
const queryBuffer = 16

// QueryEvents returns the stored events matching f, newest first (created_at
// DESC, then id ASC), at most f.Limit of them when f.Limit > 0 (0 or less:
// no limit). Rows are decoded and sent as they are read; the channel is
// closed at the end, when ctx is cancelled, or when the store closes. A
// filter on a tag name longer than one letter fails with ErrUnsupportedFilter.
func (s *Store) QueryEvents(ctx context.Context, f nostr.Filter) (chan *nostr.Event, error) {
	return query(s, ctx, f, func(raw, id []byte) (*nostr.Event, bool) { return eventsql.DecodeEvent(s.log, raw, id) })
}

// QueryEventsJSON is QueryEvents without the decoding: each value is one
// event's JSON as stored, which is what nostr.Event.MarshalJSON wrote when it
// was saved. A relay sends it to clients as is.
func (s *Store) QueryEventsJSON(ctx context.Context, f nostr.Filter) (chan []byte, error) {
	return query(s, ctx, f, func(raw, _ []byte) ([]byte, bool) {
		return bytes.Clone(raw), true
	})
}

// query runs f and sends conv of each row's raw JSON and id (both valid only
// during the call) on the channel it returns.
func query[T any](s *Store, ctx context.Context, f nostr.Filter, conv func(raw, id []byte) (T, bool)) (chan T, error) {
	p, err := compile(f, s.now(), selectRows)
	if err != nil {
		return nil, err
	}
	ch := make(chan T, queryBuffer)
	if p.empty {
		close(ch)
		return ch, nil
	}
	if err := s.track(); err != nil {
		return nil, err
	}
	ctx, cancel := eventsql.MergeCancel(ctx, s.ctx)
	st, release, err := s.stmt(ctx, p.sql)
	if err != nil {
		cancel()
		s.wg.Done()
		return nil, fmt.Errorf("query events: %w", err)
	}
	rows, err := st.QueryContext(ctx, p.args...)
	if err != nil {
		release()
		cancel()
		s.wg.Done()
		return nil, fmt.Errorf("query events: %w", err)
	}
	go func() {
		defer s.wg.Done()
		defer cancel()
		defer close(ch)
		defer release()
		defer rows.Close()
		eventsql.Stream(ctx, s.log, ch, &rawRows{Rows: rows}, p.dedupe, p.limit, conv)
	}()
	return ch, nil
}

// rawRows reads the (raw, id) rows of a query without copying them.
type rawRows struct {
	*sql.Rows
	raw, id sql.RawBytes
}

func (r *rawRows) Row() (raw, id []byte, err error) {
	err = r.Scan(&r.raw, &r.id)
	return r.raw, r.id, err
}

// CountEvents returns the number of stored events matching f (NIP-45);
// f.Limit is ignored.
func (s *Store) CountEvents(ctx context.Context, f nostr.Filter) (int64, error) {
	p, err := compile(f, s.now(), selectCount)
	if err != nil {
		return 0, err
	}
	if p.empty {
		return 0, nil
	}
	if err := s.track(); err != nil {
		return 0, err
	}
	defer s.wg.Done()
	st, release, err := s.stmt(ctx, p.sql)
	if err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	defer release()
	var n int64
	if err := st.QueryRowContext(ctx, p.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// CountByKind returns how many unexpired events of each kind are stored. It
// counts the kind index (no event rows are read) and subtracts the expired
// events not yet purged.
func (s *Store) CountByKind(ctx context.Context) (map[int]int64, error) {
	if err := s.track(); err != nil {
		return nil, err
	}
	defer s.wg.Done()
	// Both counts read one snapshot: a purge committed between them would
	// leave expired rows counted by the first and not subtracted by the
	// second.
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("count by kind: %w", err)
	}
	defer tx.Rollback()
	out := make(map[int]int64)
	if err := sumByKind(ctx, tx, out, 1, `SELECT kind, count(*) FROM events INDEXED BY events_kind GROUP BY kind`); err != nil {
		return nil, err
	}
	if err := sumByKind(ctx, tx, out, -1, `SELECT kind, count(*) FROM events INDEXED BY events_expires
		WHERE expires_at <= ? GROUP BY kind`, s.now()); err != nil {
		return nil, err
	}
	for k, n := range out {
		if n <= 0 {
			delete(out, k)
		}
	}
	return out, nil
}

func sumByKind(ctx context.Context, tx *sql.Tx, out map[int]int64, sign int64, q string, args ...any) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("count by kind: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k int
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return fmt.Errorf("count by kind: %w", err)
		}
		out[k] += sign * n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count by kind: %w", err)
	}
	return nil
}

// maxCachedStmts bounds the prepared-statement cache. Filters of the same
// shape (fields present, list lengths up to the inline limit, kinds) share
// SQL text, so a relay's traffic needs far fewer; preparing costs about as
// much as running a small query.
const maxCachedStmts = 1024

// stmt returns a prepared statement for q from the cache, preparing it if
// needed. release must be called when the statement is no longer used.
func (s *Store) stmt(ctx context.Context, q string) (st *sql.Stmt, release func(), err error) {
	s.stmtMu.Lock()
	st = s.stmts[q]
	s.stmtMu.Unlock()
	if st != nil {
		return st, func() {}, nil
	}
	st, err = s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if old := s.stmts[q]; old != nil {
		st.Close()
		return old, func() {}, nil
	}
	if len(s.stmts) < maxCachedStmts {
		s.stmts[q] = st
		return st, func() {}, nil
	}
	return st, func() { st.Close() }, nil
}

// QueryIDs calls add with the created_at and id (lowercase hex) of each
// stored event matching f, in QueryEvents' order and with its limit, and
// returns how many it passed. It reads the indexes only, never an event's
// JSON: a NIP-77 NEG-OPEN needs nothing more, and over many events reading
// and decoding the JSON was most of its cost. add must not block.
func (s *Store) QueryIDs(ctx context.Context, f nostr.Filter, add func(createdAt nostr.Timestamp, id string)) (int, error) {
	p, err := compile(f, s.now(), selectIDs)
	if err != nil {
		return 0, err
	}
	if p.empty {
		return 0, nil
	}
	if err := s.track(); err != nil {
		return 0, err
	}
	defer s.wg.Done()
	ctx, cancel := eventsql.MergeCancel(ctx, s.ctx)
	defer cancel()
	st, release, err := s.stmt(ctx, p.sql)
	if err != nil {
		return 0, fmt.Errorf("query ids: %w", err)
	}
	defer release()
	rows, err := st.QueryContext(ctx, p.args...)
	if err != nil {
		return 0, fmt.Errorf("query ids: %w", err)
	}
	defer rows.Close()
	var (
		createdAt int64
		id, last  sql.RawBytes
		n         int
	)
	for rows.Next() {
		if err := rows.Scan(&createdAt, &id); err != nil {
			return n, fmt.Errorf("query ids: %w", err)
		}
		if p.dedupe {
			if bytes.Equal(id, last) {
				continue
			}
			last = append(last[:0], id...)
		}
		add(nostr.Timestamp(createdAt), hex.EncodeToString(id))
		if n++; p.limit > 0 && n >= p.limit {
			return n, nil
		}
		yieldEvery(n)
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("query ids: %w", err)
	}
	return n, nil
}

// yieldRows is how many rows a long read (COUNT, NEG-OPEN) reads between
// yields of its processor.
const yieldRows = 128

// yieldEvery lets other goroutines run after every yieldRows rows a long
// read has read (n so far). A COUNT or NEG-OPEN over thousands of rows is
// 15-40 ms of CPU; Go preempts a running goroutine only after 10 ms, so
// without a yield an honest REQ's goroutines, queued on the same
// processor, waited that long at each step of their way.
func yieldEvery(n int) {
	if n%yieldRows == 0 {
		runtime.Gosched()
	}
}
