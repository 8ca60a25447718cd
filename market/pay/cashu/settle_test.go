package cashu_test

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// TestSettleOffline: SettleOffline swaps the receipts accepted offline once
// the mint is back (a double spend fails, the bounded loss), and leaves every
// other open op alone: a send stopped after its journal write stays for
// Resume, which is what makes it safe to call while the wallet runs.
func TestSettleOffline(t *testing.T) {
	m := paytest.StartMint(t)
	proxy := paytest.StartProxy(t, m.URL())
	ctx := t.Context()
	payer := paytest.Funded(t, 200, nil, proxy.URL)
	other := paytest.Wallet(t, nil, proxy.URL)
	var crash atomic.Bool
	seller := paytest.Funded(t, 64, func(c *cashu.Config) {
		c.OfflineLimit = 50
		c.StepHook = func(step string) error {
			if crash.Load() && step == "send.journaled" {
				return errors.New("crash")
			}
			return nil
		}
	}, proxy.URL)
	if err := seller.FetchKeys(ctx); err != nil {
		t.Fatalf("fetch keys: %v", err)
	}
	send := func(n uint64) string {
		t.Helper()
		s, err := payer.Send(ctx, n, cashu.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Token
	}
	good, spent := send(30), send(16)
	if _, err := other.Receive(ctx, spent, cashu.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	// An open op of another kind: a send stopped after its journal write
	// (64 sat reserved for it, its swap never asked).
	crash.Store(true)
	stopped, err := seller.Send(ctx, 5, cashu.SendOptions{})
	if !errors.Is(err, cashu.ErrCrashed) || stopped.OpID == 0 {
		t.Fatalf("send: %+v %v", stopped, err)
	}
	crash.Store(false)

	proxy.SetDown(true)
	var queued []int64
	for _, tok := range []string{good, spent} {
		rec, err := seller.Receive(ctx, tok, cashu.ReceiveOptions{AllowOffline: true})
		if err != nil || !rec.Offline {
			t.Fatalf("offline receive: %+v %v", rec, err)
		}
		queued = append(queued, rec.OpID)
	}
	if rep, err := seller.SettleOffline(ctx); err != nil || rep.Pending != 2 || len(rep.Completed)+len(rep.Failed) != 0 {
		t.Fatalf("settle while the mint is down: %+v %v", rep, err)
	}
	proxy.SetDown(false)
	rep, err := seller.SettleOffline(ctx)
	if err != nil {
		t.Fatalf("settle: %v", err)
	}
	want := cashu.SettleReport{Completed: queued[:1], Failed: queued[1:], CompletedSats: 30, FailedSats: 16}
	if !slices.Equal(rep.Completed, want.Completed) || !slices.Equal(rep.Failed, want.Failed) ||
		rep.CompletedSats != want.CompletedSats || rep.FailedSats != want.FailedSats || rep.Pending != 0 {
		t.Fatalf("settle: %+v, want %+v", rep, want)
	}
	if exp, _ := seller.OfflineExposure(ctx); exp[proxy.URL] != 0 {
		t.Fatalf("exposure after settling: %v", exp)
	}
	op, err := seller.Journal().Get(ctx, stopped.OpID)
	if err != nil || op.State != journal.StatePrepared {
		t.Fatalf("the stopped send was touched: %+v %v", op, err)
	}
	if b := balance(t, seller); b != 30 {
		t.Fatalf("seller balance %d, want 30 (its 64 reserved by the stopped send)", b)
	}
	if rep, err := seller.SettleOffline(ctx); err != nil || len(rep.Completed)+len(rep.Failed)+rep.Pending != 0 {
		t.Fatalf("second settle: %+v %v", rep, err)
	}
	// Resume, at the next start, cancels the send the mint never saw: its
	// 64 sat are the wallet's again.
	if r, err := seller.Resume(ctx); err != nil || r.Failed != 1 {
		t.Fatalf("resume: %+v %v", r, err)
	}
	if b := balance(t, seller); b != 30+64 {
		t.Fatalf("seller balance %d after resume, want 94", b)
	}
}

// TestSettleOfflineBesidePayments: a settle loop runs while the wallet
// receives and pays from several goroutines; every queued receipt is
// swapped once and the sats are conserved exactly.
func TestSettleOfflineBesidePayments(t *testing.T) {
	m := paytest.StartMint(t)
	proxy := paytest.StartProxy(t, m.URL())
	ctx := t.Context()
	payer := paytest.Funded(t, 400, nil, proxy.URL)
	other := paytest.Wallet(t, nil, proxy.URL)
	seller := paytest.Funded(t, 100, func(c *cashu.Config) { c.OfflineLimit = 40 }, proxy.URL)
	if err := seller.FetchKeys(ctx); err != nil {
		t.Fatal(err)
	}
	var offline []string
	for _, n := range []uint64{8, 12, 16} {
		s, err := payer.Send(ctx, n, cashu.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		offline = append(offline, s.Token)
	}
	proxy.SetDown(true)
	for _, tok := range offline {
		if rec, err := seller.Receive(ctx, tok, cashu.ReceiveOptions{AllowOffline: true}); err != nil || !rec.Offline {
			t.Fatalf("offline receive: %+v %v", rec, err)
		}
	}
	proxy.SetDown(false)

	stop := make(chan struct{})
	var settled atomic.Uint64
	var loop sync.WaitGroup
	loop.Go(func() {
		for {
			rep, err := seller.SettleOffline(ctx)
			if err != nil {
				t.Errorf("settle: %v", err)
			}
			settled.Add(rep.CompletedSats)
			if len(rep.Failed) > 0 {
				t.Errorf("settle failed ops %v", rep.Failed)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	var wg sync.WaitGroup
	var in, out atomic.Uint64
	for w := range 4 {
		wg.Go(func() {
			for r := range 4 {
				n := uint64(1 + (w*4+r)%5)
				s, err := payer.Send(ctx, n, cashu.SendOptions{})
				if err != nil {
					t.Errorf("payer send: %v", err)
					return
				}
				if _, err := seller.Receive(ctx, s.Token, cashu.ReceiveOptions{AllowOffline: true}); err != nil {
					t.Errorf("seller receive: %v", err)
					return
				}
				in.Add(n)
				s, err = seller.Send(ctx, n+1, cashu.SendOptions{})
				if err != nil {
					t.Errorf("seller send: %v", err)
					return
				}
				if _, err := other.Receive(ctx, s.Token, cashu.ReceiveOptions{}); err != nil {
					t.Errorf("other receive: %v", err)
					return
				}
				out.Add(n + 1)
			}
		})
	}
	wg.Wait()
	close(stop)
	loop.Wait()
	// One last step settles what the loop had not (the mint is up).
	rep, err := seller.SettleOffline(ctx)
	if err != nil || len(rep.Failed) > 0 || rep.Pending > 0 {
		t.Fatalf("last settle: %+v %v", rep, err)
	}
	settled.Add(rep.CompletedSats)
	if exp, err := seller.OfflineExposure(ctx); err != nil || exp[proxy.URL] != 0 {
		t.Fatalf("offline exposure %v (%v) after settling", exp, err)
	}
	if got := settled.Load(); got != 36 {
		t.Fatalf("settled %d sats, want 36 (each receipt once)", got)
	}
	if b, want := balance(t, seller), 100+36+in.Load()-out.Load(); b != want {
		t.Fatalf("seller balance %d, want %d", b, want)
	}
	if b := balance(t, other); b != out.Load() {
		t.Fatalf("other balance %d, want %d", b, out.Load())
	}
	if r, err := seller.Resume(ctx); err != nil || r != (cashu.ResumeReport{}) {
		t.Fatalf("open ops left: %+v %v", r, err)
	}
}
