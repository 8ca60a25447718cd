package journal_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/journal"
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
