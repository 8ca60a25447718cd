package sqlitestore

import (
	"context"
	"fmt"
	"strings"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/storeerr"

	"github.com/sovmesh/sovmesh/relay/eventsql"
)

// ErrTooMany is returned by CountUnion when more events match than it may
// count (storeerr.ErrTooMany).
var ErrTooMany = storeerr.ErrTooMany

// CountUnion returns how many distinct stored events match at least one of
// filters (NIP-45: a COUNT's filters are OR'd and counted together); limits
// are ignored. Its work is bounded: it reads at most max+1 matches of each
// filter and returns ErrTooMany once more than max distinct events match.
// max must be positive.
func (s *Store) CountUnion(ctx context.Context, filters []nostr.Filter, max int64) (int64, error) {
	if max <= 0 {
		return 0, fmt.Errorf("count events: max %d must be positive", max)
	}
	plans := make([]plan, 0, len(filters))
	for _, f := range filters {
		p, err := compile(f, s.now(), selectSeqs)
		if err != nil {
			return 0, err
		}
		if !p.empty {
			plans = append(plans, p)
		}
	}
	if len(plans) == 0 {
		return 0, nil
	}
	if err := s.track(); err != nil {
		return 0, err
	}
	defer s.wg.Done()
	ctx, cancel := eventsql.MergeCancel(ctx, s.ctx)
	defer cancel()
	if len(plans) == 1 {
		// One filter: SQLite counts, stopping after max+1 matches.
		p := plans[0]
		st, release, err := s.stmt(ctx, "SELECT count(*) FROM ("+p.sql+" LIMIT ?)")
		if err != nil {
			return 0, fmt.Errorf("count events: %w", err)
		}
		defer release()
		var n int64
		if err := st.QueryRowContext(ctx, append(p.args, max+1)...).Scan(&n); err != nil {
			return 0, fmt.Errorf("count events: %w", err)
		}
		if n > max {
			return 0, ErrTooMany
		}
		return n, nil
	}
	// Several filters: SQLite takes the union of their rows, each cut at
	// max+1, and counts it. No row crosses into Go: scanning each seq into a
	// map took about as long but made 16,700 allocations (430 KB) per COUNT
	// over 5,000 events, against 58 (4 KB).
	var q strings.Builder
	var args []any
	q.WriteString("SELECT count(*) FROM (")
	for i, p := range plans {
		if i > 0 {
			q.WriteString(" UNION ")
		}
		q.WriteString("SELECT * FROM (" + p.sql + " LIMIT ?)")
		args = append(append(args, p.args...), max+1)
	}
	q.WriteString(")")
	st, release, err := s.stmt(ctx, q.String())
	if err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	defer release()
	var n int64
	if err := st.QueryRowContext(ctx, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	if n > max {
		return 0, ErrTooMany
	}
	return n, nil
}

// Ping checks that the database answers, on a connection of its own, so a
// health check never waits behind queries holding every reader.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.track(); err != nil {
		return err
	}
	defer s.wg.Done()
	var n int64
	err := s.health.QueryRowContext(ctx, `SELECT count(*) FROM events INDEXED BY events_id WHERE id = x'00'`).Scan(&n)
	if err != nil {
		return fmt.Errorf("ping event store: %w", err)
	}
	return nil
}
