package journal_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/migrations"
)

func TestJournal(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "pay.db")
	j, err := journal.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := j.Tx(ctx, func(tx *sql.Tx) error {
		id, err = journal.Insert(ctx, tx, journal.Op{Kind: "send", State: journal.StatePrepared, Mint: "http://m", Amount: 5,
			Data: json.RawMessage(`{"x":1}`)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// A failing transaction leaves nothing.
	boom := errors.New("boom")
	if err := j.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := journal.Insert(ctx, tx, journal.Op{Kind: "send", State: journal.StatePrepared}); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("tx: %v", err)
	}
	if ops, err := j.List(ctx); err != nil || len(ops) != 1 {
		t.Fatalf("list all: %d %v", len(ops), err)
	}
	if err := j.Tx(ctx, func(tx *sql.Tx) error {
		return journal.SetState(ctx, tx, id, journal.StateSent, json.RawMessage(`{"x":2}`), "")
	}); err != nil {
		t.Fatal(err)
	}
	j.Close()

	// Reopened: the op is there, in its last state.
	j, err = journal.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	op, err := j.Get(ctx, id)
	if err != nil || op.State != journal.StateSent || string(op.Data) != `{"x":2}` || op.Amount != 5 {
		t.Fatalf("get: %+v %v", op, err)
	}
	if ops, _ := j.List(ctx, journal.StatePrepared, journal.StateQueued); len(ops) != 0 {
		t.Fatalf("open ops: %+v", ops)
	}
	if ops, _ := j.List(ctx, journal.StateSent); len(ops) != 1 {
		t.Fatalf("sent ops: %+v", ops)
	}
	if _, err := j.Get(ctx, id+100); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("missing op: %v", err)
	}
}

// TestUpgradeFromFirstSchema: a journal written by a binary that knew only
// migration 0001 (with a tab and an op in it) opens with the later
// migrations applied and its rows intact.
func TestUpgradeFromFirstSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "pay.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations.Load("pay")
	if err != nil || len(ms) < 2 {
		t.Fatalf("migrations: %d %v", len(ms), err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL DEFAULT (unixepoch()))`,
		ms[0].SQL,
		`INSERT INTO schema_version (version, name) VALUES (1, '` + ms[0].Name + `')`,
		`INSERT INTO tabs (id, counterparty, mint, deposited, debited, state, created_at, updated_at) VALUES ('t1', 'b', 'http://m', 10, 3, 'open', 1, 1)`,
		`INSERT INTO ops (kind, state, mint, amount, data, created_at, updated_at) VALUES ('send', 'sent', 'http://m', 5, '{}', 1, 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	db.Close()
	j, err := journal.Open(ctx, path)
	if err != nil {
		t.Fatalf("open old journal: %v", err)
	}
	defer j.Close()
	var v int
	if err := j.DB().QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil || v != len(ms) {
		t.Fatalf("schema version %d, want %d (%v)", v, len(ms), err)
	}
	// 0007 drops the tab tables (their package was removed).
	var tables int
	if err := j.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('tabs', 'tab_deposits')`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("tab tables after upgrade: %d %v", tables, err)
	}
	if ops, err := j.List(ctx, journal.StateSent); err != nil || len(ops) != 1 {
		t.Fatalf("ops after upgrade: %d %v", len(ops), err)
	}
}
