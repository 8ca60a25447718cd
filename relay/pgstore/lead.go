package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sovmesh/sovmesh/migrations"
	"github.com/sovmesh/sovmesh/relay/eventsql"
)

// leadCheckEvery is how often the leader checks the connection holding the
// lock; a leader whose check fails stops leading.
const leadCheckEvery = time.Second

// TryLead takes the matcher lock (migrations.PGMatcherLock) if no other process holds it: a
// session-level advisory lock on a connection of its own. It returns
// ok=false at once when another session holds the lock. When it succeeds,
// the returned context ends when ctx ends, at Close, or when the lock's
// connection fails a check (every second): the lock may then be gone, so the
// caller must stop acting as the leader. The lock is released as the
// context ends (the connection is closed). When the holding process dies its
// session ends and PostgreSQL frees the lock, so another process's next
// TryLead succeeds.
func (s *Store) TryLead(ctx context.Context) (lead context.Context, ok bool, err error) {
	if err := s.track(); err != nil {
		return nil, false, err
	}
	conn, err := pgx.ConnectConfig(ctx, s.connConfig.Copy())
	if err != nil {
		s.wg.Done()
		return nil, false, fmt.Errorf("matcher lock: connect: %w", err)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, migrations.PGLockClass, migrations.PGMatcherLock).Scan(&ok); err != nil || !ok {
		conn.Close(context.Background())
		s.wg.Done()
		if err != nil {
			return nil, false, fmt.Errorf("matcher lock: %w", err)
		}
		return nil, false, nil
	}
	lead, cancel := eventsql.MergeCancel(ctx, s.ctx)
	go func() {
		defer s.wg.Done()
		defer cancel()
		// Closing the session releases the lock.
		defer conn.Close(context.Background())
		t := time.NewTicker(leadCheckEvery)
		defer t.Stop()
		for {
			select {
			case <-lead.Done():
				return
			case <-t.C:
				pctx, pcancel := context.WithTimeout(lead, leadCheckEvery)
				err := conn.Ping(pctx)
				pcancel()
				if err != nil && lead.Err() == nil {
					s.log.Warn("matcher lock connection failed; no longer leading", "err", err)
					return
				}
			}
		}
	}()
	return lead, true, nil
}

// ErrOtherMarketKey is returned by ClaimMarketKey when the database's market
// is signed by another relay key.
var ErrOtherMarketKey = errors.New("this database's market is signed by another relay key")

// ClaimMarketKey records pubkey as the key that signs the market on this
// database, unless one is recorded already: then it returns
// ErrOtherMarketKey when that key is not pubkey. Relay processes sharing a
// database must sign with one key (the same relay.key file).
func (s *Store) ClaimMarketKey(ctx context.Context, pubkey string) error {
	if err := s.track(); err != nil {
		return err
	}
	defer s.wg.Done()
	var recorded string
	err := s.pool.QueryRow(ctx, `WITH ins AS (
		INSERT INTO market_key (pubkey) VALUES ($1) ON CONFLICT (singleton) DO NOTHING RETURNING pubkey)
		SELECT pubkey FROM ins UNION ALL SELECT pubkey FROM market_key LIMIT 1`, pubkey).Scan(&recorded)
	if errors.Is(err, pgx.ErrNoRows) {
		// Another process inserted its key after this statement's snapshot.
		err = s.pool.QueryRow(ctx, `SELECT pubkey FROM market_key`).Scan(&recorded)
	}
	if err != nil {
		return fmt.Errorf("market key: %w", err)
	}
	if recorded != pubkey {
		return fmt.Errorf("%w: %s (this relay's is %s); give every relay process on one database the same relay.key", ErrOtherMarketKey, recorded, pubkey)
	}
	return nil
}
