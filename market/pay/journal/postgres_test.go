package journal_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sovmesh/sovmesh/internal/pgtest"
	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/migrations"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestClaimPostgres: on a journal shared by several processes, Claim gives
// a process its own open ops and those of a process that stopped, never the
// ops of one still running; a stopped process's op goes to one claimant.
func TestClaimPostgres(t *testing.T) {
	ctx := t.Context()
	url := pgtest.DB(t)
	open := func() *journal.Journal {
		j, err := journal.OpenPostgres(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { j.Close() })
		return j
	}
	insert := func(j *journal.Journal, state string) int64 {
		var id int64
		if err := j.Tx(ctx, func(tx *sql.Tx) (err error) {
			id, err = journal.Insert(ctx, tx, journal.Op{Kind: "send", State: state, Mint: "http://m", Amount: 5})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	ids := func(ops []journal.Op, err error) []int64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, op := range ops {
			out = append(out, op.ID)
		}
		return out
	}
	a, b, c := open(), open(), open()
	aOp := insert(a, journal.StatePrepared)
	insert(a, journal.StateDone)
	bOp := insert(b, journal.StatePrepared)
	for _, tc := range []struct {
		name string
		j    *journal.Journal
		want []int64
	}{
		{"a takes its own", a, []int64{aOp}},
		{"b takes its own", b, []int64{bOp}},
		{"c takes none while a and b run", c, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ids(tc.j.Claim(ctx, journal.StatePrepared, journal.StateQueued))
			if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
				t.Fatalf("claimed %v, want %v", got, tc.want)
			}
		})
	}
	// a stops: its open op goes to the first process that claims it, once.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// The server ends a's session just after its connection closes.
	waitOwnerLocks(t, url, 2)
	if got := ids(c.Claim(ctx, journal.StatePrepared)); len(got) != 1 || got[0] != aOp {
		t.Fatalf("c claimed %v after a stopped, want [%d]", got, aOp)
	}
	if got := ids(b.Claim(ctx, journal.StatePrepared)); len(got) != 1 || got[0] != bOp {
		t.Fatalf("b claimed %v, want only its own %d", got, bOp)
	}
	// Every process sees every op.
	if all := ids(b.List(ctx)); len(all) != 3 {
		t.Fatalf("list: %v", all)
	}
}

// TestOwnerLockTakenAgain: a process whose owner lock's connection is cut
// (here by pg_terminate_backend; a server restart does the same) takes the
// lock again, so a process starting afterwards leaves its open op alone.
func TestOwnerLockTakenAgain(t *testing.T) {
	ctx := t.Context()
	url := pgtest.DB(t)
	a, err := journal.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Tx(ctx, func(tx *sql.Tx) error {
		_, err := journal.Insert(ctx, tx, journal.Op{Kind: "send", State: journal.StatePrepared, Mint: "http://m", Amount: 5})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	const owners = `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objsubid = 2 AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`
	var pid int
	if err := admin.QueryRow(ctx, owners, migrations.PGOwnerClass).Scan(&pid); err != nil {
		t.Fatalf("a's owner lock: %v", err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * journal.OwnerCheckEvery)
	tick := time.NewTicker(journal.OwnerCheckEvery / 10)
	defer tick.Stop()
	for {
		var again int
		err := admin.QueryRow(ctx, owners, migrations.PGOwnerClass).Scan(&again)
		if err == nil && again != pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the owner lock was not taken again (%v)", err)
		}
		<-tick.C
	}
	b, err := journal.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if ops, err := b.Claim(ctx, journal.StatePrepared); err != nil || len(ops) != 0 {
		t.Fatalf("b claimed %d ops of a running process (%v)", len(ops), err)
	}
}

// waitOwnerLocks waits (bounded) until n owner locks are held on url's
// database.
func waitOwnerLocks(t *testing.T, url string, n int) {
	t.Helper()
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var got int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objsubid = 2 AND granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, migrations.PGOwnerClass).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d owner locks held, want %d", got, n)
		}
		<-tick.C
	}
}
