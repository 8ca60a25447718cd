package state

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/migrations"
	"github.com/sovmesh/sovmesh/nips"
)

func openWithJournal(t *testing.T, dir string) (*DB, *journal.Journal) {
	t.Helper()
	j, err := journal.Open(t.Context(), filepath.Join(dir, "pay.db"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(t.Context(), filepath.Join(dir, "agentd.db"), j.DB())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); j.Close() })
	return d, j
}

// op is a journal op as the wallet writes it: kind, state, amount, the sum
// of its input proofs (a receive) and its fee (a send).
type op struct {
	kind, state   string
	amount, input uint64
	fee           uint64
}

type line struct {
	e  Entry
	op op
}

// record journals l.op and its ledger line in one transaction, as the
// wallet's OnJournal hook does, and returns the op id.
func record(t *testing.T, d *DB, db *sql.DB, l line) int64 {
	t.Helper()
	ctx := t.Context()
	data := fmt.Sprintf(`{"fee":%d}`, l.op.fee)
	if l.op.input > 0 {
		data = fmt.Sprintf(`{"inputs":[{"amount":%d}]}`, l.op.input)
	}
	var id int64
	err := runTx(ctx, db, func(tx *sql.Tx) error {
		var err error
		if id, err = journal.Insert(ctx, tx, journal.Op{Kind: l.op.kind, State: l.op.state, Amount: l.op.amount, Data: []byte(data)}); err != nil {
			return err
		}
		return d.Recorder(l.e)(ctx, tx, id)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func setState(t *testing.T, db *sql.DB, id int64, st string) {
	t.Helper()
	if err := runTx(t.Context(), db, func(tx *sql.Tx) error { return journal.SetState(t.Context(), tx, id, st, nil, "") }); err != nil {
		t.Fatal(err)
	}
}

// TestOfflineEarnings: an earning accepted offline is unconfirmed while its
// op is queued; swapped, it stays; refused by the mint, it is lost, with
// its fee, and no longer counts in the net earnings: the ledger follows the
// journal with no reconciling step.
func TestOfflineEarnings(t *testing.T) {
	for _, tt := range []struct {
		name                 string
		final                string
		wantLost, wantNet    uint64
		wantFees, wantByRsrc uint64
	}{
		{name: "swapped", final: "done", wantLost: 0, wantNet: 15, wantFees: 1, wantByRsrc: 15},
		{name: "refused by the mint", final: "failed", wantLost: 10, wantNet: 5, wantFees: 0, wantByRsrc: 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			d := openDB(t)
			id := record(t, d, d.pay, line{Entry{Session: "s1", Kind: Earn, Resource: nips.Storage}, op{"receive", "queued", 10, 11, 0}})
			if _, err := d.pay.ExecContext(ctx, `UPDATE ops SET data = json_set(data, '$.offline', json('true')) WHERE id = ?`, id); err != nil {
				t.Fatal(err)
			}
			record(t, d, d.pay, line{Entry{Session: "s1", Kind: Earn, Resource: nips.Storage}, op{"receive", "done", 5, 5, 0}})
			tot, err := d.Totals(ctx, time.Time{})
			if err != nil || tot.Earned != 15 || tot.Unconfirmed != 10 || tot.Lost != 0 {
				t.Fatalf("before settling: %+v %v", tot, err)
			}
			setState(t, d.pay, id, tt.final)
			tot, err = d.Totals(ctx, time.Time{})
			if err != nil || tot.Unconfirmed != 0 || tot.Lost != tt.wantLost || tot.Net() != tt.wantNet ||
				tot.ReceiveFees != tt.wantFees || tot.Fees != 0 || tot.ByResource[nips.Storage] != tt.wantByRsrc {
				t.Fatalf("after settling: %+v %v", tot, err)
			}
		})
	}
}

// TestReclaimReleasesBudget: a reclaimed spend's refund and budget release
// count once the reclaim op is done, not before (nor if it fails).
func TestReclaimReleasesBudget(t *testing.T) {
	ctx := t.Context()
	d := openDB(t)
	b := &Budget{DB: d, PerDay: 100}
	commit, err := b.Reserve(ctx, "p", 30)
	if err != nil {
		t.Fatal(err)
	}
	send := record(t, d, d.pay, line{Entry{Session: "s", Kind: Spend, Counterparty: "p", Resource: nips.Storage}, op{"send", "sent", 30, 0, 0}})
	if err := commit(ctx, true); err != nil {
		t.Fatal(err)
	}
	var reclaim int64
	err = runTx(ctx, d.pay, func(tx *sql.Tx) error {
		var err error
		if reclaim, err = journal.Insert(ctx, tx, journal.Op{Kind: "reclaim", State: "prepared", Amount: 29, Data: []byte(`{"inputs":[{"amount":30}]}`)}); err != nil {
			return err
		}
		return d.Reclaimer(send, "p", time.Now())(ctx, tx, reclaim)
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string, spent, refunded, reclaimed uint64) {
		t.Helper()
		if n, err := b.SpentToday(ctx); err != nil || n != spent {
			t.Fatalf("%s: spent today %d (%v), want %d", when, n, err, spent)
		}
		tot, err := d.Totals(ctx, time.Time{})
		if err != nil || tot.Refunded != refunded || tot.Reclaimed != reclaimed || tot.Spent != 30 {
			t.Fatalf("%s: %+v %v", when, tot, err)
		}
	}
	check("reclaim prepared", 30, 0, 0)
	setState(t, d.pay, reclaim, "done")
	setState(t, d.pay, send, "refunded")
	check("reclaim done", 1, 29, 29)
}

// TestUpgradeMovesLedger: a state database written before the ledger moved
// to the payment journal (migrations up to 0005, ledger, budget and offline
// lines in it) opens with its lines in the journal, counted as before.
func TestUpgradeMovesLedger(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	oldAgentDB(t, dir, 5,
		`INSERT INTO ledger (session, kind, counterparty, resource, sats, fee, op_id, created_at) VALUES ('s', 'earn', 'b', 'storage', 9, 1, 1, 1)`,
		`INSERT INTO ledger (session, kind, counterparty, resource, sats, fee, op_id, created_at) VALUES ('s', 'lost', 'b', 'storage', 9, 1, 1, 1)`,
		`INSERT INTO ledger (session, kind, counterparty, resource, sats, fee, op_id, created_at) VALUES ('s', 'earn', 'b', 'storage', 4, 0, 2, 1)`,
		`INSERT INTO offline_earnings (op_id, created_at) VALUES (2, 1)`,
		`INSERT INTO ledger (session, kind, counterparty, resource, sats, fee, op_id, created_at) VALUES ('t', 'spend', 'p', 'storage', 6, 0, 3, 1)`,
		fmt.Sprintf(`INSERT INTO budget (day, counterparty, sats, state) VALUES ('%s', 'p', 6, 'paid')`, time.Now().UTC().Format(time.DateOnly)),
	)
	j, err := journal.Open(ctx, filepath.Join(dir, "pay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, o := range []journal.Op{{Kind: "receive", State: "failed", Amount: 9}, {Kind: "receive", State: "queued", Amount: 4}, {Kind: "send", State: "sent", Amount: 6}} {
		if err := j.Tx(ctx, func(tx *sql.Tx) error { _, err := journal.Insert(ctx, tx, o); return err }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 { // the second open finds nothing left to move
		d, err := Open(ctx, filepath.Join(dir, "agentd.db"), j.DB())
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		tot, err := d.Totals(ctx, time.Time{})
		if err != nil || tot.Earned != 13 || tot.Lost != 9 || tot.Unconfirmed != 4 || tot.Net() != 4 || tot.Spent != 6 || tot.Pending != 6 {
			t.Fatalf("open %d: totals after upgrade: %+v %v", i, tot, err)
		}
		if n, err := (&Budget{DB: d}).SpentToday(ctx); err != nil || n != 6 {
			t.Fatalf("open %d: budget after upgrade: %d %v", i, n, err)
		}
		d.Close()
	}
}

// oldAgentDB writes dir/agentd.db as an agentd of migrations 1 to upTo left
// it, then runs rows (its data) in it.
func oldAgentDB(t *testing.T, dir string, upTo int, rows ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "agentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := migrations.Load("agentd")
	if err != nil || len(ms) <= upTo {
		t.Fatalf("migrations: %d %v", len(ms), err)
	}
	qs := []string{`CREATE TABLE schema_version (version INTEGER NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL DEFAULT (unixepoch()))`}
	for _, m := range ms[:upTo] {
		qs = append(qs, m.SQL, fmt.Sprintf(`INSERT INTO schema_version (version, name) VALUES (%d, '%s')`, m.Version, m.Name))
	}
	for _, q := range append(qs, rows...) {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
}
