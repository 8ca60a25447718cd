// Package pgsqldb opens a PostgreSQL database as a database/sql *sql.DB
// (github.com/jackc/pgx/v5's stdlib driver) that takes the SQL written for
// SQLite's driver: "?" placeholders become $1, $2, ... and bool arguments
// become the integers 0 and 1 (the 0/1 flag columns both schemas use). So
// one piece of SQL code runs on either database; what differs between the
// two (types, identity columns) stays in each one's migrations.
package pgsqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sovmesh/sovmesh/migrations"
)

// ErrDatabaseURL is returned by Open for a URL it cannot use. The URL itself
// is never quoted: it may hold a password.
var ErrDatabaseURL = errors.New("database URL")

// Open connects to the database at url (postgres://user@host:port/db?...)
// and applies the named migration set (migrations.ApplyPostgres).
func Open(ctx context.Context, url, set string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message can quote the URL, password included.
		return nil, fmt.Errorf("%w: not a valid PostgreSQL URL or connection string (postgres://user@host:port/database)", ErrDatabaseURL)
	}
	db := sql.OpenDB(connector{stdlib.GetConnector(*cfg)})
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	err = conn.Raw(func(dc any) error {
		return migrations.ApplyPostgres(ctx, PGX(dc), set)
	})
	conn.Close()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return db, nil
}

// PGX returns the pgx connection under a driver connection of a database
// Open returned (the argument of sql.Conn.Raw's function).
func PGX(driverConn any) *pgx.Conn { return driverConn.(*conn).Conn.Conn() }

// connector makes conns.
type connector struct{ driver.Connector }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{dc.(*stdlib.Conn)}, nil
}

// conn is pgx's connection with SQLite-style queries rewritten.
type conn struct{ *stdlib.Conn }

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(Rebind(query))
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, Rebind(query))
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, Rebind(query), args)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, Rebind(query), args)
}

// CheckNamedValue stores a bool as the integer 0 or 1.
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if b, ok := nv.Value.(bool); ok {
		nv.Value = int64(0)
		if b {
			nv.Value = int64(1)
		}
	}
	return c.Conn.CheckNamedValue(nv)
}

// Rebind turns each "?" placeholder of query into PostgreSQL's $n, leaving
// those inside quoted strings, quoted identifiers and comments alone.
func Rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch {
		case ch == '\'' || ch == '"':
			j := strings.IndexByte(query[i+1:], ch)
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+2])
			i += j + 1
		case ch == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+1])
			i += j
		case ch == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}
