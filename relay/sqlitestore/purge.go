package sqlitestore

import (
	"context"
	"time"
)

// purgeLoop deletes expired events every purge interval until Close.
func (s *Store) purgeLoop() {
	t := time.NewTicker(s.cfg.purgeInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if n, err := s.PurgeExpired(s.ctx); err != nil {
				if s.ctx.Err() == nil {
					s.log.Warn("purge expired events", "err", err, "deleted", n)
				}
			} else if n > 0 {
				s.log.Debug("purged expired events", "deleted", n)
			}
		}
	}
}

// PurgeExpired deletes every event whose NIP-40 expiration is at or before
// now, in transactions of at most the purge batch size (so writers are not
// held up), and returns how many it deleted. The background purge calls it;
// expired events are never returned by queries either way.
func (s *Store) PurgeExpired(ctx context.Context) (int, error) {
	total := 0
	now := s.now()
	for {
		req := &request{op: opPurge, now: now, limit: s.cfg.purgeBatch}
		if err := s.do(ctx, req); err != nil {
			return total, err
		}
		total += req.deleted
		if req.deleted < s.cfg.purgeBatch {
			return total, nil
		}
	}
}
