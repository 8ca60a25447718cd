package cashu_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

// TestConcurrentPayments: two wallets pay each other from many goroutines
// at once against the real mint; every token is received, and the total
// held is conserved exactly.
func TestConcurrentPayments(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	a := paytest.Funded(t, 500, nil, m.URL())
	b := paytest.Funded(t, 300, nil, m.URL())
	const workers, rounds = 8, 6
	var wg sync.WaitGroup
	var sentAB, sentBA atomic.Uint64
	errs := make(chan error, 2*workers*rounds)
	pay := func(from, to *cashu.Wallet, amount uint64, total *atomic.Uint64) {
		s, err := from.Send(ctx, amount, cashu.SendOptions{})
		if errors.Is(err, cashu.ErrInsufficient) {
			return // the other direction has not paid back yet
		}
		if err != nil {
			errs <- err
			return
		}
		if _, err := to.Receive(ctx, s.Token, cashu.ReceiveOptions{Amount: amount}); err != nil {
			errs <- err
			return
		}
		total.Add(amount)
	}
	for w := range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for r := range rounds {
				pay(a, b, uint64(1+(w*rounds+r)%13), &sentAB)
			}
		}()
		go func() {
			defer wg.Done()
			for r := range rounds {
				pay(b, a, uint64(1+(w+r)%7), &sentBA)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("payment: %v", err)
	}
	ba, bb := balance(t, a), balance(t, b)
	if ba+bb != 800 {
		t.Fatalf("total %d + %d = %d, want 800", ba, bb, ba+bb)
	}
	if want := 500 - sentAB.Load() + sentBA.Load(); ba != want {
		t.Fatalf("a holds %d, want %d", ba, want)
	}
	if sentAB.Load() == 0 || sentBA.Load() == 0 {
		t.Fatal("no payments made")
	}
	// Nothing left reserved or open in either journal.
	for _, w := range []*cashu.Wallet{a, b} {
		var n int
		if err := w.Journal().DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM proofs WHERE state = 'reserved'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("reserved proofs left: %d %v", n, err)
		}
		if rep, err := w.Resume(ctx); err != nil || rep != (cashu.ResumeReport{}) {
			t.Fatalf("open ops left: %+v %v", rep, err)
		}
	}
}

// TestConcurrentDoubleReceive: the same token offered to one wallet from
// many goroutines is credited once; offered to two wallets, once in all.
func TestConcurrentDoubleReceive(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	payer := paytest.Funded(t, 64, nil, m.URL())
	p1 := paytest.Wallet(t, nil, m.URL())
	p2 := paytest.Wallet(t, nil, m.URL())
	for round := range 3 {
		s, err := payer.Send(ctx, 5, cashu.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var ok atomic.Int32
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := p1
				if i%2 == 1 && round > 0 {
					w = p2
				}
				_, err := w.Receive(ctx, s.Token, cashu.ReceiveOptions{})
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
	if got := balance(t, p1) + balance(t, p2); got != 15 {
		t.Fatalf("received %d, want 15", got)
	}
	if got := balance(t, payer); got != 64-15 {
		t.Fatalf("payer %d", got)
	}
}

// TestConcurrentOverspend: more sends than the balance covers, at once:
// the ones that succeed sum to at most the balance, each token is good.
func TestConcurrentOverspend(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	payer := paytest.Funded(t, 40, nil, m.URL())
	payee := paytest.Wallet(t, nil, m.URL())
	var wg sync.WaitGroup
	tokens := make(chan string, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := payer.Send(ctx, 3, cashu.SendOptions{})
			if err != nil {
				if !errors.Is(err, cashu.ErrInsufficient) {
					t.Errorf("send: %v", err)
				}
				return
			}
			tokens <- s.Token
		}()
	}
	wg.Wait()
	close(tokens)
	var got uint64
	for tok := range tokens {
		rec, err := payee.Receive(ctx, tok, cashu.ReceiveOptions{})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		got += rec.Amount
	}
	if got != 39 || balance(t, payer) != 1 {
		t.Fatalf("paid %d, payer keeps %d; want 39 and 1", got, balance(t, payer))
	}
}

// TestConcurrentSendWaitsForChange: a send the unspent proofs do not cover
// waits, however long, for the change of a send in flight on the same
// wallet instead of failing ErrInsufficient, so callers need no send lock
// of their own. The first send is held after it reserved the wallet's only
// proof (its StepHook) until the second reports, in the log, that it waits.
// (A send used to give up after 2 x HTTPTimeout, ErrInsufficient.)
func TestConcurrentSendWaitsForChange(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	waiting := make(chan struct{})
	w := paytest.Funded(t, 64, func(c *cashu.Config) {
		c.StepHook = func(step string) error {
			if step == "send.journaled" {
				once.Do(func() {
					close(held)
					<-release
				})
			}
			return nil
		}
		c.Logger = slog.New(signalHandler{msg: "send waits for the change of payments in flight", ch: waiting, mu: new(sync.Mutex)})
	}, m.URL())
	payee := paytest.Wallet(t, nil, m.URL())
	type result struct {
		s   cashu.Sent
		err error
	}
	first, second := make(chan result, 1), make(chan result, 1)
	go func() {
		s, err := w.Send(ctx, 5, cashu.SendOptions{})
		first <- result{s, err}
	}()
	<-held // the 64 sat proof is reserved, the swap not made
	go func() {
		s, err := w.Send(ctx, 40, cashu.SendOptions{})
		second <- result{s, err}
	}()
	select {
	case <-waiting:
	case r := <-second:
		t.Fatalf("second send ended while the first was in flight: %v", r.err)
	}
	close(release)
	for _, ch := range []chan result{first, second} {
		r := <-ch
		if r.err != nil {
			t.Fatalf("send: %v", r.err)
		}
		if _, err := payee.Receive(ctx, r.s.Token, cashu.ReceiveOptions{}); err != nil {
			t.Fatalf("receive: %v", err)
		}
	}
	if got := balance(t, payee); got != 45 {
		t.Fatalf("payee %d, want 45", got)
	}
	if got := balance(t, w); got != 64-45 {
		t.Fatalf("payer %d, want 19", got)
	}
}

// signalHandler closes ch at the first record whose message is msg.
type signalHandler struct {
	msg string
	ch  chan struct{}
	mu  *sync.Mutex
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.mu.Lock()
		defer h.mu.Unlock()
		select {
		case <-h.ch:
		default:
			close(h.ch)
		}
	}
	return nil
}
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h signalHandler) WithGroup(string) slog.Handler      { return h }
