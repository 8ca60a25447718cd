package sqlitestore

import (
	"context"
	"fmt"

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
	// Several filters: the union of their rows, each cut at max+1.
	seen := make(map[int64]struct{})
	for _, p := range plans {
		if err := s.collectSeqs(ctx, p, max, seen); err != nil {
			return 0, err
		}
	}
	return int64(len(seen)), nil
}

func (s *Store) collectSeqs(ctx context.Context, p plan, max int64, seen map[int64]struct{}) error {
	st, release, err := s.stmt(ctx, p.sql+" LIMIT ?")
	if err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	defer release()
	rows, err := st.QueryContext(ctx, append(p.args, max+1)...)
	if err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return fmt.Errorf("count events: %w", err)
		}
		seen[seq] = struct{}{}
		if int64(len(seen)) > max {
			return ErrTooMany
		}
		yieldEvery(len(seen))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	return nil
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
