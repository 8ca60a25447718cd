package journal_test

import (
	"database/sql"
	"os"
	"testing"

	"github.com/sovmesh/sovmesh/internal/pgtest"
	"github.com/sovmesh/sovmesh/market/pay/journal"
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
