package fees_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/pgtest"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// relayProcess is one meshrelay process's wallet and collector on the
// shared PostgreSQL database.
type relayProcess struct {
	w   *cashu.Wallet
	col *fees.Collector
}

func openRelayProcess(t *testing.T, url, key, mint string, cfg fees.Config) relayProcess {
	t.Helper()
	ctx := t.Context()
	j, err := journal.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	wcfg := cashu.DefaultConfig()
	wcfg.Mints, wcfg.PrivateKey = []string{mint}, key
	w, err := cashu.Open(ctx, j, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	col, err := fees.New(j, w, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return relayProcess{w: w, col: col}
}

// TestSharedLedger runs three relay processes' wallets and collectors on
// one PostgreSQL database, as meshrelay --database does: a prepaid balance
// topped up on one is spent on the others and never overdrawn by
// concurrent charges, an event sent to several is charged once, and every
// sat the buyer paid is in the shared wallet, as balance or earnings.
func TestSharedLedger(t *testing.T) {
	url := pgtest.DB(t)
	m := paytest.StartMint(t)
	ctx := t.Context()
	const fee = 3
	cfg := fees.Config{Publication: map[int]uint64{offerKind: fee}}
	key := paytest.NewKey(t)
	procs := []relayProcess{
		openRelayProcess(t, url, key, m.URL(), cfg),
		openRelayProcess(t, url, key, m.URL(), cfg),
		openRelayProcess(t, url, key, m.URL(), cfg),
	}
	const funded = 100
	buyer := paytest.Funded(t, funded, nil, m.URL())
	token := func(n uint64) string {
		s, err := buyer.Send(ctx, n, cashu.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Token
	}
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	balanceEverywhere := func(want uint64) {
		t.Helper()
		for i, p := range procs {
			if b, err := p.col.Balance(ctx, pk); err != nil || b != want {
				t.Fatalf("balance on process %d: %d %v, want %d", i, b, err, want)
			}
		}
	}

	// A top-up on process 0 is the balance on every process.
	if res, err := procs[0].col.TopUp(ctx, pk, token(20), "r1"); err != nil || res.Credited != 20 {
		t.Fatalf("top up: %+v %v", res, err)
	}
	balanceEverywhere(20)
	// The same request on another process reports the first outcome.
	if res, err := procs[1].col.TopUp(ctx, pk, "", "r1"); err != nil || res.Credited != 20 || res.Balance != 20 {
		t.Fatalf("top up again elsewhere: %+v %v", res, err)
	}

	// Twelve events charged at once, four to each process: 20 sats pay
	// six fees, never more.
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		charged, refused int
		unexpected       []error
		events           []*nostr.Event
	)
	for range 12 {
		events = append(events, event(t, sk, offerKind, nil))
	}
	for i, ev := range events {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := procs[i%len(procs)].col.Charge(ctx, ev, "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				charged++
			case errors.Is(err, fees.ErrPaymentRequired):
				refused++
			default:
				unexpected = append(unexpected, err)
			}
		}()
	}
	wg.Wait()
	if len(unexpected) > 0 || charged != 6 || refused != 6 {
		t.Fatalf("concurrent charges: %d charged, %d refused, errors %v; want 6 and 6", charged, refused, unexpected)
	}
	balanceEverywhere(2)
	// A charged event sent again, to every process, is not charged again.
	for i, p := range procs {
		for _, ev := range events {
			if err := p.col.Charge(ctx, ev, ""); err != nil && !errors.Is(err, fees.ErrPaymentRequired) {
				t.Fatalf("resent to process %d: %v", i, err)
			}
		}
	}
	balanceEverywhere(2)

	// An event paying its fee with a token, sent to every process at once:
	// the token is redeemed once and the fee charged once.
	paid := event(t, sk, offerKind, nostr.Tags{{fees.TagName, token(10)}})
	var ok int
	errs := make([]error, len(procs))
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.col.Charge(ctx, paid, "")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, fees.ErrBadPayment) && !errors.Is(err, fees.ErrNotSettled) {
			t.Fatalf("token event: %v", err)
		}
	}
	if ok == 0 {
		t.Fatalf("token event accepted nowhere: %v", errs)
	}
	// Sent again afterwards, every process takes it as paid.
	for i, p := range procs {
		if err := p.col.Charge(ctx, paid, ""); err != nil {
			t.Fatalf("token event again on process %d: %v", i, err)
		}
	}
	balanceEverywhere(2 + 10 - fee)

	// A process that stops after its wallet redeemed a token, before the
	// fee was recorded, leaves the receipt pending; the others, resuming
	// and receiving the event again all at once, complete it once.
	fees.SetStepHook(procs[0].col, func(step string) error {
		if step == "fee.received" {
			return errors.New("crash")
		}
		return nil
	})
	stopped := event(t, sk, offerKind, nostr.Tags{{fees.TagName, token(10)}})
	if err := procs[0].col.Charge(ctx, stopped, ""); !errors.Is(err, cashu.ErrCrashed) {
		t.Fatalf("charge: %v, want the crash", err)
	}
	fees.SetStepHook(procs[0].col, nil)
	for _, p := range procs {
		for range 3 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				if err := p.col.Charge(ctx, stopped, ""); err != nil {
					t.Errorf("resent: %v", err)
				}
			}()
			go func() {
				defer wg.Done()
				if _, err := p.col.Resume(ctx); err != nil {
					t.Errorf("resume: %v", err)
				}
			}()
		}
	}
	wg.Wait()
	balanceEverywhere(2 + 2*(10-fee))

	// Sats conserved: the buyer's 100 are in its wallet or the relay's,
	// and the relay's are the prepaid balance plus its earnings.
	for i, p := range procs {
		relay, err := p.w.Balance(ctx)
		if err != nil {
			t.Fatal(err)
		}
		left, _ := buyer.Balance(ctx)
		if left+relay != funded || relay != 40 {
			t.Fatalf("process %d: buyer %d + relay %d, want %d with the relay's 40", i, left, relay, funded)
		}
		e, err := p.col.Earnings(ctx, time.Now().Add(-time.Hour), time.Now())
		if err != nil || len(e) != 1 || e[0].Publication != 8*fee || e[0].Events != 8 {
			t.Fatalf("earnings on process %d: %+v %v", i, e, err)
		}
		if bal, _ := p.col.Balance(ctx, pk); bal+e[0].Publication != relay {
			t.Fatalf("process %d: balance %d + earnings %d != wallet %d", i, bal, e[0].Publication, relay)
		}
	}
}
