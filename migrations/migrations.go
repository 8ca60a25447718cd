// Package migrations holds the numbered SQL schema migrations of every sovmesh
// database, embedded in the binary, and the runner that applies them.
//
// Each database has its own set, a folder of files named NNNN_what.sql
// (relay/0001_events.sql, ...). Apply runs, in one transaction per file, every
// file whose number is above the version recorded in the database's
// schema_version table. A database whose recorded version is above the newest
// file the binary knows refuses to open with ErrDatabaseNewer, so an old binary
// never writes to a schema it does not understand.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed */*.sql
var files embed.FS

// ErrDatabaseNewer is returned by Apply when the database was written by a
// newer binary than this one.
var ErrDatabaseNewer = errors.New("database schema is newer than this binary")

// ErrUnknownSet is returned by Apply for a set name with no migrations.
var ErrUnknownSet = errors.New("unknown migration set")

// Migration is one numbered schema step.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load returns the migrations of one set (a folder name such as "relay"),
// sorted by version. Numbers must start at 1 and have no gaps.
func Load(set string) ([]Migration, error) {
	return load(files, set)
}

func load(fsys fs.FS, set string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, set)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownSet, set)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_what.sql", set, e.Name())
		}
		body, err := fs.ReadFile(fsys, path.Join(set, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s/%s: %w", set, e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration set %q: expected version %d, found %s", set, i+1, m.Name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %q has no .sql files", ErrUnknownSet, set)
	}
	return out, nil
}

// Apply brings db up to the newest migration of set and returns the version
// it ended at. It is safe to call on every start.
func Apply(ctx context.Context, db *sql.DB, set string) (int, error) {
	ms, err := Load(set)
	if err != nil {
		return 0, err
	}
	return apply(ctx, db, set, ms)
}

func apply(ctx context.Context, db *sql.DB, set string, ms []Migration) (int, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER NOT NULL,
		name TEXT NOT NULL,
		applied_at INTEGER NOT NULL DEFAULT (unixepoch())
	)`); err != nil {
		return 0, fmt.Errorf("create schema_version: %w", err)
	}
	current, err := Version(ctx, db)
	if err != nil {
		return 0, err
	}
	latest := ms[len(ms)-1].Version
	if current > latest {
		return current, fmt.Errorf("%w: database is at version %d of %q, this binary knows up to %d; upgrade sovmesh",
			ErrDatabaseNewer, current, set, latest)
	}
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return current, fmt.Errorf("begin migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			_ = tx.Rollback()
			return current, fmt.Errorf("apply migration %s/%s: %w", set, m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, name) VALUES (?, ?)`, m.Version, m.Name); err != nil {
			_ = tx.Rollback()
			return current, fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return current, fmt.Errorf("commit migration %s: %w", m.Name, err)
		}
		current = m.Version
	}
	return current, nil
}

// Version returns the newest version recorded in db, or 0 for a new database.
func Version(ctx context.Context, db *sql.DB) (int, error) {
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int(v.Int64), nil
}
