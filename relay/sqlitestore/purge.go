package sqlitestore

import (
	"context"

	"github.com/sovmesh/sovmesh/relay/eventsql"
)

// purgeLoop deletes expired events every purge interval until Close.
func (s *Store) purgeLoop() {
	eventsql.PurgeLoop(s.ctx, s.cfg.purgeInterval, s.log, s.PurgeExpired)
}

// PurgeExpired deletes every event whose NIP-40 expiration is at or before
// now, in transactions of at most the purge batch size (so writers are not
// held up), and returns how many it deleted. The background purge calls it;
// expired events are never returned by queries either way.
func (s *Store) PurgeExpired(ctx context.Context) (int, error) {
	now := s.now()
	return eventsql.PurgeBatches(ctx, s.cfg.purgeBatch, func(ctx context.Context) (int, error) {
		req := &request{op: opPurge, now: now, limit: s.cfg.purgeBatch}
		if err := s.do(ctx, req); err != nil {
			return 0, err
		}
		return req.deleted, nil
	})
}
