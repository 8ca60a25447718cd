package cashu_test

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sovmesh/sovmesh/internal/pgtest"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestSharedWalletOnPostgres: one wallet, its journal in PostgreSQL, opened
// by two processes (as meshrelay processes on one database open the relay's
// wallet). A token offered to both at once is received once; sends from
// both at once never spend a proof twice or more than the balance; every
// sat is accounted for, and both see the same balance.
func TestSharedWalletOnPostgres(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	dir, key := t.TempDir(), paytest.NewKey(t)
	procs := []*cashu.Wallet{
		paytest.Postgres.WalletAt(t, dir, key, nil, m.URL()),
		paytest.Postgres.WalletAt(t, dir, key, nil, m.URL()),
	}
	payer := paytest.Funded(t, 64, nil, m.URL())
	for round := range 3 {
		s, err := payer.Send(ctx, 8, cashu.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var ok atomic.Int32
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := procs[i%2].Receive(ctx, s.Token, cashu.ReceiveOptions{})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, cashu.ErrReplayed), errors.Is(err, cashu.ErrTokenSpent):
				default:
					t.Errorf("receive: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 {
			t.Fatalf("round %d: %d receives succeeded", round, ok.Load())
		}
	}
	for i, w := range procs {
		if got := balance(t, w); got != 24 {
			t.Fatalf("process %d sees %d, want 24", i, got)
		}
	}

	// Sends of 5 from both processes at once: at most 4 succeed (24 sats).
	payee := paytest.Wallet(t, nil, m.URL())
	tokens := make(chan string, 12)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := procs[i%2].Send(ctx, 5, cashu.SendOptions{})
			if err != nil {
				// Out of funds, or a proof the other process took first:
				// either way nothing was sent.
				return
			}
			tokens <- s.Token
		}()
	}
	wg.Wait()
	close(tokens)
	var paid uint64
	for tok := range tokens {
		rec, err := payee.Receive(ctx, tok, cashu.ReceiveOptions{})
		if err != nil {
			t.Fatalf("receive a token the shared wallet sent: %v", err)
		}
		paid += rec.Amount
	}
	if paid == 0 || paid > 24 {
		t.Fatalf("paid %d from 24", paid)
	}
	for i, w := range procs {
		if got := balance(t, w); got+paid != 24 {
			t.Fatalf("process %d: balance %d + paid %d != 24", i, got, paid)
		}
	}
	if got := balance(t, payer); got != 64-24 {
		t.Fatalf("payer %d, want %d", got, 64-24)
	}
	// Nothing left reserved or open.
	for _, w := range procs {
		if rep, err := w.Resume(ctx); err != nil || rep != (cashu.ResumeReport{}) {
			t.Fatalf("open ops left: %+v %v", rep, err)
		}
	}
}
