package fees_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

// TestChargeCrash stops the relay at each step of a token charge, as a crash
// would, reopens its wallet and collector on the same files, and checks
// that the payer is credited and charged exactly once and that the relay's
// wallet holds the token's sats.
func TestChargeCrash(t *testing.T) { forEachBackend(t, testChargeCrash) }

func testChargeCrash(t *testing.T, b paytest.Backend) {
	steps := []struct {
		name       string
		walletStep string // the relay wallet stops here
		feeStep    string // or the collector stops here
		resent     bool   // recover by the event sent again instead of Resume
	}{
		{name: "after the swap, before the wallet stored the proofs", walletStep: "receive.swapped"},
		{name: "after the receive, before the fee was recorded", feeStep: "fee.received"},
		{name: "after the receive, recovered by the resent event", feeStep: "fee.received", resent: true},
		{name: "before the swap", walletStep: "receive.journaled"},
	}
	m := paytest.StartMint(t)
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ctx := t.Context()
			dir, key := t.TempDir(), paytest.NewKey(t)
			cfg := fees.Config{Publication: map[int]uint64{offerKind: 3}}
			relayWallet := b.WalletAt(t, dir, key, func(c *cashu.Config) {
				c.StepHook = func(step string) error {
					if step == st.walletStep {
						return errors.New("crash")
					}
					return nil
				}
			}, m.URL())
			col, err := fees.New(relayWallet.Journal(), relayWallet, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			fees.SetStepHook(col, func(step string) error {
				if step == st.feeStep {
					return errors.New("crash")
				}
				return nil
			})
			buyer := paytest.Funded(t, 20, nil, m.URL())
			sent, err := buyer.Send(ctx, 5, cashu.SendOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sk := nostr.GeneratePrivateKey()
			pk, _ := nostr.GetPublicKey(sk)
			ev := event(t, sk, offerKind, nostr.Tags{{fees.TagName, sent.Token}})
			if err := col.Charge(ctx, ev, ""); !errors.Is(err, cashu.ErrCrashed) {
				t.Fatalf("charge: %v, want the crash", err)
			}
			// The process is gone: reopen the same journal.
			if err := relayWallet.Journal().Close(); err != nil {
				t.Fatal(err)
			}
			j := b.OpenJournal(t, dir)
			wcfg := cashu.DefaultConfig()
			wcfg.Mints, wcfg.PrivateKey = []string{m.URL()}, key
			w, err := cashu.Open(ctx, j, wcfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Resume(ctx); err != nil {
				t.Fatalf("wallet resume: %v", err)
			}
			col2, err := fees.New(j, w, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if st.resent {
				if err := col2.Charge(ctx, ev, ""); err != nil {
					t.Fatalf("resent event: %v", err)
				}
			} else if n, err := col2.Resume(ctx); err != nil || n != 1 {
				t.Fatalf("collector resume: %d %v", n, err)
			}
			// Charged once: 3 sat fee, 2 sat credited; the event again is free.
			if err := col2.Charge(ctx, ev, ""); err != nil {
				t.Fatalf("resent after resume: %v", err)
			}
			if n, _ := col2.Resume(ctx); n != 0 {
				t.Fatalf("second resume settled %d", n)
			}
			if b, _ := col2.Balance(ctx, pk); b != 2 {
				t.Fatalf("payer balance %d, want 2", b)
			}
			e, _ := col2.Earnings(ctx, time.Now().Add(-time.Hour), time.Now())
			if len(e) != 1 || e[0].Publication != 3 || e[0].Events != 1 {
				t.Fatalf("earnings %+v", e)
			}
			if b, _ := w.Balance(ctx); b != 5 {
				t.Fatalf("relay wallet %d, want 5", b)
			}
			// The buyer cannot take the token back: it is the relay's.
			if rc, err := buyer.Reclaim(ctx, sent.OpID); err != nil || !rc.Redeemed {
				t.Fatalf("buyer reclaim: %+v %v", rc, err)
			}
		})
	}
}

// TestChargeRefusedTokenNotCredited: a spent token fails its receipt at once
// and credits nothing, then and after Resume.
func TestChargeRefusedTokenNotCredited(t *testing.T) {
	forEachBackend(t, testChargeRefusedTokenNotCredited)
}

func testChargeRefusedTokenNotCredited(t *testing.T, b paytest.Backend) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	relayWallet := b.WalletAt(t, t.TempDir(), paytest.NewKey(t), nil, m.URL())
	col, err := fees.New(relayWallet.Journal(), relayWallet, fees.Config{Publication: map[int]uint64{offerKind: 3}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	buyer := paytest.Funded(t, 20, nil, m.URL())
	other := paytest.Wallet(t, nil, m.URL())
	sent, err := buyer.Send(ctx, 5, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Receive(ctx, sent.Token, cashu.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	err = col.Charge(ctx, event(t, sk, offerKind, nostr.Tags{{fees.TagName, sent.Token}}), "")
	if !errors.Is(err, cashu.ErrTokenSpent) || fees.Prefix(err) != "blocked" {
		t.Fatalf("spent token: %v", err)
	}
	if n, err := col.Resume(ctx); n != 0 || err != nil {
		t.Fatalf("resume: %d %v", n, err)
	}
	if b, _ := col.Balance(ctx, pk); b != 0 {
		t.Fatalf("credited %d for a spent token", b)
	}
}

// TestTopUpCrash: the relay stops after redeeming a top-up token and before
// crediting it; Resume credits it once.
func TestTopUpCrash(t *testing.T) { forEachBackend(t, testTopUpCrash) }

func testTopUpCrash(t *testing.T, b paytest.Backend) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	relayWallet := b.WalletAt(t, t.TempDir(), paytest.NewKey(t), nil, m.URL())
	col, err := fees.New(relayWallet.Journal(), relayWallet, fees.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	crash := true
	fees.SetStepHook(col, func(step string) error {
		if crash && step == "fee.received" {
			return errors.New("crash")
		}
		return nil
	})
	buyer := paytest.Funded(t, 20, nil, m.URL())
	sent, err := buyer.Send(ctx, 9, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := nostr.GetPublicKey(nostr.GeneratePrivateKey())
	if _, err := col.TopUp(ctx, pk, sent.Token, ""); !errors.Is(err, cashu.ErrCrashed) {
		t.Fatalf("top up: %v", err)
	}
	if b, _ := col.Balance(ctx, pk); b != 0 {
		t.Fatalf("credited before resume: %d", b)
	}
	crash = false
	for range 2 {
		if _, err := col.Resume(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := col.Balance(ctx, pk); b != 9 {
		t.Fatalf("balance after resume %d, want 9", b)
	}
}

// TestFirstChargeResumes: a collector nobody resumed settles what the last
// run left pending at its first charge, of any event.
func TestFirstChargeResumes(t *testing.T) { forEachBackend(t, testFirstChargeResumes) }

func testFirstChargeResumes(t *testing.T, b paytest.Backend) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	dir, key := t.TempDir(), paytest.NewKey(t)
	cfg := fees.Config{Publication: map[int]uint64{offerKind: 3}}
	w1 := b.WalletAt(t, dir, key, nil, m.URL())
	col1, err := fees.New(w1.Journal(), w1, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	fees.SetStepHook(col1, func(step string) error {
		if step == "fee.received" {
			return errors.New("crash")
		}
		return nil
	})
	buyer := paytest.Funded(t, 20, nil, m.URL())
	sent, err := buyer.Send(ctx, 8, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	if err := col1.Charge(ctx, event(t, sk, offerKind, nostr.Tags{{fees.TagName, sent.Token}}), ""); !errors.Is(err, cashu.ErrCrashed) {
		t.Fatalf("charge: %v", err)
	}
	_ = w1.Journal().Close()
	w2 := b.WalletAt(t, dir, key, nil, m.URL())
	col2, err := fees.New(w2.Journal(), w2, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Another event of the same author, paid from the balance the crashed
	// token left: 8 - 3 = 5, then 5 - 3 = 2.
	if err := col2.Charge(ctx, event(t, sk, offerKind, nil), ""); err != nil {
		t.Fatalf("first charge after restart: %v", err)
	}
	if b, _ := col2.Balance(ctx, pk); b != 2 {
		t.Fatalf("balance %d, want 2", b)
	}
}

// TestTopUpResent: a top-up interrupted after the mint took its token
// answers "not settled" and credits nothing yet; the same request sent
// again (after the wallet resumed, when the wallet itself stopped) credits
// the token once and reports the credit, as does every later resend.
func TestTopUpResent(t *testing.T) { forEachBackend(t, testTopUpResent) }

func testTopUpResent(t *testing.T, b paytest.Backend) {
	m := paytest.StartMint(t)
	for _, st := range []struct {
		name       string
		walletStep string // the relay wallet stops here
		feeStep    string // or the collector stops here
	}{
		{name: "after the swap, before the wallet stored the proofs", walletStep: "receive.swapped"},
		{name: "after the receive, before the credit", feeStep: "fee.received"},
	} {
		t.Run(st.name, func(t *testing.T) {
			ctx := t.Context()
			crash := true
			hook := func(want string) func(string) error {
				return func(step string) error {
					if crash && step == want {
						return errors.New("crash")
					}
					return nil
				}
			}
			relayWallet := b.WalletAt(t, t.TempDir(), paytest.NewKey(t), func(c *cashu.Config) { c.StepHook = hook(st.walletStep) }, m.URL())
			col, err := fees.New(relayWallet.Journal(), relayWallet, fees.Config{Publication: map[int]uint64{offerKind: 3}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			fees.SetStepHook(col, hook(st.feeStep))
			buyer := paytest.Funded(t, 20, nil, m.URL())
			sent, err := buyer.Send(ctx, 9, cashu.SendOptions{})
			if err != nil {
				t.Fatal(err)
			}
			pk, _ := nostr.GetPublicKey(nostr.GeneratePrivateKey())
			_, err = col.TopUp(ctx, pk, sent.Token, "request")
			if !errors.Is(err, fees.ErrNotSettled) || !errors.Is(err, cashu.ErrCrashed) || fees.Prefix(err) != "error" {
				t.Fatalf("interrupted top-up: %v, want not settled", err)
			}
			if b, _ := col.Balance(ctx, pk); b != 0 {
				t.Fatalf("credited %d before the outcome is known", b)
			}
			crash = false
			if st.walletStep != "" {
				// The wallet's receive op is open until the wallet resumes.
				if _, err := col.TopUp(ctx, pk, sent.Token, "request"); !errors.Is(err, fees.ErrNotSettled) {
					t.Fatalf("resent before the wallet resumed: %v, want not settled", err)
				}
				if _, err := relayWallet.Resume(ctx); err != nil {
					t.Fatalf("wallet resume: %v", err)
				}
			}
			for range 2 {
				res, err := col.TopUp(ctx, pk, sent.Token, "request")
				if err != nil || res != (fees.TopUpResult{Credited: 9, Balance: 9}) {
					t.Fatalf("resent: %+v %v, want 9 credited, balance 9", res, err)
				}
			}
			if n, err := col.Resume(ctx); n != 0 || err != nil {
				t.Fatalf("resume settled %d (%v) after the resends", n, err)
			}
			if w, _ := relayWallet.Balance(ctx); w != 9 {
				t.Fatalf("relay wallet %d, want 9", w)
			}
		})
	}
}

// TestChargeUnsettled: a fee token whose swap the relay's wallet did not
// finish is answered error: (not blocked:), and once the wallet resumed the
// same event sent again is free: the fee was taken once.
func TestChargeUnsettled(t *testing.T) { forEachBackend(t, testChargeUnsettled) }

func testChargeUnsettled(t *testing.T, b paytest.Backend) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	crash := true
	relayWallet := b.WalletAt(t, t.TempDir(), paytest.NewKey(t), func(c *cashu.Config) {
		c.StepHook = func(step string) error {
			if crash && step == "receive.swapped" {
				return errors.New("crash")
			}
			return nil
		}
	}, m.URL())
	col, err := fees.New(relayWallet.Journal(), relayWallet, fees.Config{Publication: map[int]uint64{offerKind: 3}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	buyer := paytest.Funded(t, 20, nil, m.URL())
	sent, err := buyer.Send(ctx, 3, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sk := nostr.GeneratePrivateKey()
	ev := event(t, sk, offerKind, nostr.Tags{{fees.TagName, sent.Token}})
	err = col.Charge(ctx, ev, "")
	if !errors.Is(err, fees.ErrNotSettled) || fees.Prefix(err) != "error" {
		t.Fatalf("interrupted fee: %v (prefix %s), want not settled", err, fees.Prefix(err))
	}
	crash = false
	if _, err := relayWallet.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := col.Charge(ctx, ev, ""); err != nil {
		t.Fatalf("the same event again: %v, want free", err)
	}
	if got, _ := relayWallet.Balance(ctx); got != 3 {
		t.Fatalf("relay wallet %d, want the fee once (3)", got)
	}
}
