package migrations

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Advisory locks of the PostgreSQL database meshrelay processes share (the
// two-int4 key space): the class, and the ids taken under it.
const (
	PGLockClass     = 0x736f766d // "sovm"
	PGMigrationLock = 1          // held while migrations run
	PGMatcherLock   = 2          // held by the process that runs the matching engine
	PGWalletLock    = 3          // held by each transaction of the relay's shared wallet
	// PGOwnerClass is the class of the session lock each process holds on
	// its own id while it runs wallet operations (market/pay/journal).
	PGOwnerClass = 0x736f7670 // "sovp"
)

// ApplyPostgres applies the migrations of set not yet recorded in the
// database's schema_version table, one transaction each, holding an
// advisory lock so that processes starting together migrate once.
func ApplyPostgres(ctx context.Context, conn *pgx.Conn, set string) error {
	ms, err := Load(set)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, PGLockClass, PGMigrationLock); err != nil {
		return fmt.Errorf("lock for migrations: %w", err)
	}
	defer func() {
		// A lock left by a failed unlock ends with the session; close it then.
		if _, err := conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1, $2)`, PGLockClass, PGMigrationLock); err != nil {
			conn.Close(context.Background())
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version integer NOT NULL,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	latest := ms[len(ms)-1].Version
	if current > latest {
		return fmt.Errorf("%w: database is at version %d of %q, this binary knows up to %d; upgrade sovmesh",
			ErrDatabaseNewer, current, set, latest)
	}
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply migration %s/%s: %w", set, m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("record migration %s: %w", m.Name, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
