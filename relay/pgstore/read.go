package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/eventsql"
	"github.com/sovmesh/sovmesh/relay/storeerr"
)

// queryBuffer is how many decoded events wait in a query's channel.
const queryBuffer = 16

// QueryEvents returns the stored events matching f, newest first (created_at
// DESC, then id ASC), at most f.Limit of them when f.Limit > 0 (0 or less:
// no limit). Rows are decoded and sent as they are read; the channel is
// closed at the end, when ctx is cancelled, or when the store closes. A
// filter on a tag name longer than one letter fails with
// storeerr.ErrUnsupportedFilter.
func (s *Store) QueryEvents(ctx context.Context, f nostr.Filter) (chan *nostr.Event, error) {
	return query(s, ctx, f, func(raw, id []byte) (*nostr.Event, bool) { return eventsql.DecodeEvent(s.log, raw, id) })
}

// QueryEventsJSON is QueryEvents without the decoding: each value is one
// event's JSON as stored. A relay sends it to clients as is.
func (s *Store) QueryEventsJSON(ctx context.Context, f nostr.Filter) (chan []byte, error) {
	return query(s, ctx, f, func(raw, _ []byte) ([]byte, bool) { return bytes.Clone(raw), true })
}

// query runs f and sends conv of each row's raw JSON and id (both valid only
// during the call) on the channel it returns.
func query[T any](s *Store, ctx context.Context, f nostr.Filter, conv func(raw, id []byte) (T, bool)) (chan T, error) {
	spec, empty, err := eventsql.Normalize(f)
	if err != nil {
		return nil, err
	}
	ch := make(chan T, queryBuffer)
	if empty {
		close(ch)
		return ch, nil
	}
	b := newBuilder()
	compile(b, spec, s.now(), selectRows)
	if err := s.track(); err != nil {
		return nil, err
	}
	ctx, cancel := eventsql.MergeCancel(ctx, s.ctx)
	rows, err := s.pool.Query(ctx, b.SQL(), b.Args()...)
	if err != nil {
		cancel()
		s.wg.Done()
		return nil, fmt.Errorf("query events: %w", err)
	}
	go func() {
		defer s.wg.Done()
		defer cancel()
		defer close(ch)
		defer rows.Close()
		eventsql.Stream(ctx, s.log, ch, rawRows{rows}, false, 0, conv)
	}()
	return ch, nil
}

// rawRows reads the (raw, id) rows of a query as pgx received them; the
// limit is in the SQL and rows never repeat.
type rawRows struct{ pgx.Rows }

func (r rawRows) Row() (raw, id []byte, err error) {
	v := r.RawValues()
	return v[0], v[1], nil
}

// CountEvents returns the number of stored events matching f (NIP-45);
// f.Limit is ignored.
func (s *Store) CountEvents(ctx context.Context, f nostr.Filter) (int64, error) {
	spec, empty, err := eventsql.Normalize(f)
	if err != nil || empty {
		return 0, err
	}
	if err := s.track(); err != nil {
		return 0, err
	}
	defer s.wg.Done()
	b := newBuilder()
	compile(b, spec, s.now(), selectCount)
	var n int64
	if err := s.pool.QueryRow(ctx, b.SQL(), b.Args()...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// CountUnion returns how many distinct stored events match at least one of
// filters (NIP-45: a COUNT's filters are OR'd and counted together); limits
// are ignored. Its work is bounded: it reads at most max+1 matches of each
// filter and returns storeerr.ErrTooMany when more than max distinct events
// match. max must be positive.
func (s *Store) CountUnion(ctx context.Context, filters []nostr.Filter, max int64) (int64, error) {
	if max <= 0 {
		return 0, fmt.Errorf("count events: max %d must be positive", max)
	}
	b := newBuilder()
	b.W("SELECT count(*) FROM (")
	parts := 0
	now := s.now()
	for _, f := range filters {
		spec, empty, err := eventsql.Normalize(f)
		if err != nil {
			return 0, err
		}
		if empty {
			continue
		}
		if parts > 0 {
			b.W(" UNION ")
		}
		b.W("(")
		compile(b, spec, now, selectSeqs)
		b.W(" LIMIT " + strconv.FormatInt(max+1, 10) + ")")
		parts++
	}
	if parts == 0 {
		return 0, nil
	}
	b.W(") u")
	if err := s.track(); err != nil {
		return 0, err
	}
	defer s.wg.Done()
	ctx, cancel := eventsql.MergeCancel(ctx, s.ctx)
	defer cancel()
	var n int64
	if err := s.pool.QueryRow(ctx, b.SQL(), b.Args()...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	if n > max {
		return 0, storeerr.ErrTooMany
	}
	return n, nil
}

// CountByKind returns how many unexpired events of each kind are stored.
func (s *Store) CountByKind(ctx context.Context) (map[int]int64, error) {
	if err := s.track(); err != nil {
		return nil, err
	}
	defer s.wg.Done()
	rows, err := s.pool.Query(ctx, `SELECT kind, count(*) FROM events
		WHERE expires_at IS NULL OR expires_at > $1 GROUP BY kind`, s.now())
	if err != nil {
		return nil, fmt.Errorf("count by kind: %w", err)
	}
	defer rows.Close()
	out := make(map[int]int64)
	for rows.Next() {
		var k int
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("count by kind: %w", err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count by kind: %w", err)
	}
	return out, nil
}
