// Package sqlitedb opens SQLite databases (modernc.org/sqlite, pure Go) with the
// settings every sovmesh database uses: WAL journal, full synchronous commits
// (a committed transaction survives power loss), foreign keys, and a busy
// timeout so readers and the single writer do not fail on contention.
package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/sovmesh/sovmesh/internal/datadir"
	"github.com/sovmesh/sovmesh/migrations"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Open opens (creating if needed) the database file at path and applies the
// named migration set. Use one *sql.DB per file: database/sql pools
// connections, and WAL lets readers run while one writer commits.
func Open(ctx context.Context, path, set string) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"synchronous(FULL)",
		"foreign_keys(ON)",
		"busy_timeout(10000)",
		"temp_store(MEMORY)",
		"cache_size(-32000)",
	} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	// The file is created 0600 before SQLite opens it, so its WAL and SHM
	// files (which SQLite gives the database's mode) are private too; an
	// older file, or one made by hand, is tightened.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	f.Close()
	if err := datadir.PrivateFiles(path, path+"-wal", path+"-shm"); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	dsn := "file:" + escapePath(path) + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := datadir.PrivateFiles(path+"-wal", path+"-shm"); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if set != "" {
		if _, err := migrations.Apply(ctx, db, set); err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate %s: %w", path, err)
		}
	}
	return db, nil
}

// escapePath percent-encodes the characters that end or escape the path part
// of an SQLite URI filename, so a directory named "a?b" or "#1" opens the file
// it names. SQLite decodes %HH in URI paths.
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}
