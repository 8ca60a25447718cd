package state

import (
	"database/sql"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestGroupTx: calls arriving while a batch commits are committed together
// in the next batch (one transaction), and one call's error rolls back
// only its own writes.
func TestGroupTx(t *testing.T) {
	ctx := t.Context()
	d := openDB(t)
	if _, err := d.db.ExecContext(ctx, `CREATE TABLE g (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	insert := func(k string) func(*sql.Tx) error {
		return func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO g (k) VALUES (?)`, k)
			return err
		}
	}
	errBoom := errors.New("boom")
	entered, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- d.groupTx(ctx, func(tx *sql.Tx) error {
			close(entered)
			<-release // the batch is committing while the others arrive
			return insert("a")(tx)
		})
	}()
	<-entered
	const n = 6
	var mu sync.Mutex
	txs := map[*sql.Tx]int{}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = d.groupTx(ctx, func(tx *sql.Tx) error {
				mu.Lock()
				txs[tx]++
				mu.Unlock()
				k := string(rune('b' + i))
				if err := insert(k)(tx); err != nil {
					return err
				}
				if i == 2 {
					return errBoom // its insert is rolled back
				}
				return nil
			})
		})
	}
	// Every later call is queued before the first batch ends.
	for range 10_000_000 {
		d.gmu.Lock()
		q := len(d.group.queue)
		d.gmu.Unlock()
		if q == n {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if len(txs) != 1 {
		t.Errorf("%d calls ran in %d transactions, want 1", n, len(txs))
	}
	for i, err := range errs {
		if (i == 2) != errors.Is(err, errBoom) {
			t.Errorf("call %d: %v", i, err)
		}
	}
	var got []string
	rows, err := d.db.QueryContext(ctx, `SELECT k FROM g ORDER BY k`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
	}
	if want := "a b c e f g"; strings.Join(got, " ") != want {
		t.Errorf("committed %q, want %q", strings.Join(got, " "), want)
	}
}
