package tab_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"encoding/hex"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/tab"
	"github.com/sovmesh/sovmesh/transport"
)

const mib = 1 << 20

func pubOf(t *testing.T, skHex string) string {
	t.Helper()
	return pubOfB(t, skHex)
}

func pubOfB(t testing.TB, skHex string) string {
	t.Helper()
	b, err := hex.DecodeString(skHex)
	if err != nil {
		t.Fatal(err)
	}
	_, pk := btcec.PrivKeyFromBytes(b)
	return hex.EncodeToString(schnorr.SerializePubKey(pk))
}

func balance(t *testing.T, w *cashu.Wallet) uint64 {
	t.Helper()
	b, err := w.Balance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// meterRun plays the transport's side of one metered stream against the
// gate and the payer, as transport's meter does: Open, then at every pause
// point an invoice, a payment step and a Redeem, until units are used.
func meterRun(ctx context.Context, t *testing.T, gate transport.PaymentGate, payer transport.Payer, s transport.Session, units, step uint64) {
	t.Helper()
	credit, err := gate.Open(ctx, s)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	var used uint64
	for used < units {
		n := min(step, units-used)
		for i := 0; used+n > credit; i++ {
			if i == 64 {
				t.Fatal("too many payment steps")
			}
			tok, err := payer.Pay(ctx, transport.Invoice{Provider: peer.ID("seller"), Protocol: s.Protocol, Used: used, Credit: credit, Need: used + n - credit})
			if err != nil {
				t.Fatalf("pay: %v", err)
			}
			u, err := gate.Redeem(ctx, s, tok)
			if err != nil {
				t.Fatalf("redeem: %v", err)
			}
			credit += u
		}
		used += n
	}
	gate.Close(ctx, s, transport.Usage{Units: used})
}

func TestTabLifecycle(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	buyerKey := paytest.NewKey(t)
	buyerPub := pubOf(t, buyerKey)
	buyer := paytest.WalletAt(t, t.TempDir(), buyerKey, nil, m.URL())
	if err := buyer.Fund(ctx, 100); err != nil {
		t.Fatal(err)
	}
	seller := paytest.Wallet(t, nil, m.URL())
	cfg := tab.DefaultConfig()
	cfg.StepUnits, cfg.StepSats = mib, 1
	k, err := tab.NewKeeper(seller, cfg)
	if err != nil {
		t.Fatal(err)
	}
	payer := &tab.Payer{Wallet: buyer, Seller: seller.PublicKey(), Deposit: 10, Limit: 40}

	// No tab yet: a stream starts with no credit.
	if c, err := k.Open(ctx, transport.Session{ID: "probe", Buyer: buyerPub}); err != nil || c != 0 {
		t.Fatalf("open without tab: %d %v", c, err)
	}
	k.Close(ctx, transport.Session{ID: "probe"}, transport.Usage{})

	// Two streams: 12.5 MiB and 9 MiB, in 256 KiB steps.
	meterRun(ctx, t, k, payer, transport.Session{ID: "s1", Buyer: buyerPub, Protocol: "/bw"}, 25*mib/2, 256<<10)
	meterRun(ctx, t, k, payer, transport.Session{ID: "s2", Buyer: buyerPub, Protocol: "/bw"}, 9*mib, 256<<10)
	tb, err := k.Tab(ctx, buyerPub)
	if err != nil {
		t.Fatal(err)
	}
	// 21.5 MiB used: 22 steps debited (13, then 9 for a stream that
	// started with the first's unused half step), half a step carried
	// (worth 0 whole sats), deposits of 10 sat each.
	if tb.Deposited != 30 || tb.Debited != 22 || tb.Carry != mib/2 || payer.Deposited() != 30 {
		t.Fatalf("tab %+v, payer deposited %d", tb, payer.Deposited())
	}
	if tb.Debited > tb.Deposited {
		t.Fatal("charged beyond the deposit")
	}
	if l, _ := k.Liabilities(ctx); l != 8 {
		t.Fatalf("liabilities %d, want 8", l)
	}

	// A dry tab grants nothing to a draw; a bad step is refused.
	if _, err := k.Redeem(ctx, transport.Session{ID: "s3", Buyer: buyerPub}, []byte("nonsense")); !errors.Is(err, tab.ErrBadToken) {
		t.Fatalf("bad token: %v", err)
	}
	stranger := transport.Session{ID: "s4", Buyer: pubOf(t, paytest.NewKey(t))}
	if _, err := k.Redeem(ctx, stranger, []byte(tab.DrawToken)); !errors.Is(err, tab.ErrNoTab) {
		t.Fatalf("draw with no tab: %v", err)
	}

	// Close: 8 sat change, locked to the buyer.
	ch, err := k.CloseTab(ctx, buyerPub)
	if err != nil || ch.Amount != 8 || ch.Token == "" {
		t.Fatalf("close: %+v %v", ch, err)
	}
	other := paytest.Wallet(t, nil, m.URL())
	if _, err := other.Receive(ctx, ch.Token, cashu.ReceiveOptions{}); !errors.Is(err, cashu.ErrLockedToOther) {
		t.Fatalf("change taken by a stranger: %v", err)
	}
	again, err := k.Change(ctx, ch.TabID)
	if err != nil || again.Token != ch.Token {
		t.Fatalf("change again: %+v %v", again, err)
	}
	if _, err := k.CloseTab(ctx, buyerPub); !errors.Is(err, tab.ErrNoTab) {
		t.Fatalf("second close: %v", err)
	}
	back, err := payer.Settle(ctx, ch)
	if err != nil || back != 8 {
		t.Fatalf("settle: %d %v", back, err)
	}
	// Every sat accounted for: the buyer paid 22, the seller holds 22.
	if b, s := balance(t, buyer), balance(t, seller); b != 78 || s != 22 {
		t.Fatalf("buyer %d seller %d, want 78 and 22", b, s)
	}

	// The limit stops deposits.
	small := &tab.Payer{Wallet: buyer, Seller: seller.PublicKey(), Deposit: 10, Limit: 5}
	if _, err := small.Pay(ctx, transport.Invoice{}); !errors.Is(err, tab.ErrLimit) {
		t.Fatalf("limit: %v", err)
	}
}

// TestTabChangeCrash stops the seller after the change's send op is
// journaled and before the mint answered, and after the send failed
// outright; Resume makes and records the change exactly once.
func TestTabChangeCrash(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	buyerKey := paytest.NewKey(t)
	buyerPub := pubOf(t, buyerKey)
	buyer := paytest.WalletAt(t, t.TempDir(), buyerKey, nil, m.URL())
	if err := buyer.Fund(ctx, 64); err != nil {
		t.Fatal(err)
	}
	sellerDir, sellerKey := t.TempDir(), paytest.NewKey(t)
	crash := true
	seller := paytest.WalletAt(t, sellerDir, sellerKey, func(c *cashu.Config) {
		c.StepHook = func(step string) error {
			if crash && step == "send.journaled" {
				return errors.New("crash")
			}
			return nil
		}
	}, m.URL())
	cfg := tab.DefaultConfig()
	cfg.StepUnits, cfg.StepSats = mib, 2
	k, err := tab.NewKeeper(seller, cfg)
	if err != nil {
		t.Fatal(err)
	}
	payer := &tab.Payer{Wallet: buyer, Seller: seller.PublicKey(), Deposit: 13}
	meterRun(ctx, t, k, payer, transport.Session{ID: "s1", Buyer: buyerPub}, 3*mib, mib)

	// 13 deposited, 6 debited: 7 sat change, which needs a swap (13 = 8+4+1
	// at the seller, no exact 7): the crash hits after it is journaled.
	if _, err := k.CloseTab(ctx, buyerPub); !errors.Is(err, tab.ErrPending) {
		t.Fatalf("close with crash: %v", err)
	}
	// Restart: same files, no crash.
	crash = false
	if err := seller.Journal().Close(); err != nil {
		t.Fatal(err)
	}
	seller2 := paytest.WalletAt(t, sellerDir, sellerKey, nil, m.URL())
	if _, err := seller2.Resume(ctx); err != nil {
		t.Fatalf("wallet resume: %v", err)
	}
	k2, err := tab.NewKeeper(seller2, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := k2.Resume(ctx); err != nil || n != 1 {
		t.Fatalf("keeper resume: %d %v", n, err)
	}
	if n, _ := k2.Resume(ctx); n != 0 {
		t.Fatalf("second resume closed %d", n)
	}
	tabs, err := seller2.Journal().DB().QueryContext(ctx, `SELECT id FROM tabs`)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	tabs.Next()
	_ = tabs.Scan(&id)
	tabs.Close()
	ch, err := k2.Change(ctx, id)
	if err != nil || ch.Amount != 7 {
		t.Fatalf("change %+v %v", ch, err)
	}
	back, err := payer.Settle(ctx, ch)
	if err != nil || back != 7 {
		t.Fatalf("settle %d %v", back, err)
	}
	if b, s := balance(t, buyer), balance(t, seller2); b != 64-6 || s != 6 {
		t.Fatalf("buyer %d seller %d", b, s)
	}
}

// TestTabChangeRetried: the change cannot be made at closing (the seller's
// wallet is short); the tab stays closing with nothing sent, and Resume
// sends it once the wallet holds enough.
func TestTabChangeRetried(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	buyerKey := paytest.NewKey(t)
	buyerPub := pubOf(t, buyerKey)
	buyer := paytest.WalletAt(t, t.TempDir(), buyerKey, nil, m.URL())
	if err := buyer.Fund(ctx, 20); err != nil {
		t.Fatal(err)
	}
	seller := paytest.Wallet(t, nil, m.URL())
	cfg := tab.DefaultConfig()
	cfg.StepUnits, cfg.StepSats = mib, 1
	cfg.LockChange = false
	k, err := tab.NewKeeper(seller, cfg)
	if err != nil {
		t.Fatal(err)
	}
	payer := &tab.Payer{Wallet: buyer, Seller: seller.PublicKey(), Deposit: 10}
	meterRun(ctx, t, k, payer, transport.Session{ID: "s1", Buyer: buyerPub}, 2*mib, mib)
	// The seller spends its wallet elsewhere, below what it owes.
	if _, err := seller.Send(ctx, 10, cashu.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.CloseTab(ctx, buyerPub); !errors.Is(err, cashu.ErrInsufficient) {
		t.Fatalf("close while short: %v", err)
	}
	if n, _ := k.Resume(ctx); n != 0 {
		t.Fatal("resumed while still short")
	}
	if err := seller.Fund(ctx, 8); err != nil {
		t.Fatal(err)
	}
	if n, err := k.Resume(ctx); err != nil || n != 1 {
		t.Fatalf("resume: %d %v", n, err)
	}
	tb, err := k.Tab(ctx, buyerPub)
	if !errors.Is(err, tab.ErrNoTab) {
		t.Fatalf("tab still open: %+v", tb)
	}
}

// TestDrawSteps: draws of several steps; what is granted and not used is
// carried and returned at closing, so the buyer pays for what it used.
func TestDrawSteps(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	buyerKey := paytest.NewKey(t)
	buyerPub := pubOf(t, buyerKey)
	buyer := paytest.WalletAt(t, t.TempDir(), buyerKey, nil, m.URL())
	if err := buyer.Fund(ctx, 30); err != nil {
		t.Fatal(err)
	}
	seller := paytest.Wallet(t, nil, m.URL())
	cfg := tab.DefaultConfig()
	cfg.StepUnits, cfg.StepSats, cfg.DrawSteps = mib, 1, 4
	k, err := tab.NewKeeper(seller, cfg)
	if err != nil {
		t.Fatal(err)
	}
	payer := &tab.Payer{Wallet: buyer, Seller: seller.PublicKey(), Deposit: 10}
	meterRun(ctx, t, k, payer, transport.Session{ID: "s1", Buyer: buyerPub}, 5*mib, mib)
	tb, err := k.Tab(ctx, buyerPub)
	if err != nil || tb.Debited != 8 || tb.Carry != 3*mib || tb.Deposited != 10 {
		t.Fatalf("tab %+v %v", tb, err)
	}
	ch, err := k.CloseTab(ctx, buyerPub)
	if err != nil || ch.Amount != 5 {
		t.Fatalf("change %+v %v", ch, err)
	}
	if _, err := payer.Settle(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if b, s := balance(t, buyer), balance(t, seller); b != 25 || s != 5 {
		t.Fatalf("buyer %d seller %d", b, s)
	}
}

// TestTabDepositCrash: the seller stops after the mint swapped a deposit and
// before its wallet stored the proofs (the swap succeeded, the gate never
// opened). After the restart the deposit is on the tab, and closing the tab
// returns it whole: the buyer loses nothing.
func TestTabDepositCrash(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	buyerKey := paytest.NewKey(t)
	buyerPub := pubOf(t, buyerKey)
	buyer := paytest.WalletAt(t, t.TempDir(), buyerKey, nil, m.URL())
	if err := buyer.Fund(ctx, 40); err != nil {
		t.Fatal(err)
	}
	sellerDir, sellerKey := t.TempDir(), paytest.NewKey(t)
	seller := paytest.WalletAt(t, sellerDir, sellerKey, func(c *cashu.Config) {
		c.StepHook = func(step string) error {
			if step == "receive.swapped" {
				return errors.New("crash")
			}
			return nil
		}
	}, m.URL())
	cfg := tab.DefaultConfig()
	cfg.StepUnits, cfg.StepSats = mib, 1
	k, err := tab.NewKeeper(seller, cfg)
	if err != nil {
		t.Fatal(err)
	}
	payer := &tab.Payer{Wallet: buyer, Seller: seller.PublicKey(), Deposit: 15}
	s := transport.Session{ID: "s1", Buyer: buyerPub}
	if _, err := k.Open(ctx, s); err != nil {
		t.Fatal(err)
	}
	tok, err := payer.Pay(ctx, transport.Invoice{Need: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Redeem(ctx, s, tok); !errors.Is(err, cashu.ErrCrashed) {
		t.Fatalf("redeem: %v, want the crash", err)
	}
	// The token is spent at the mint: the buyer cannot take it back.
	if rc, err := payer.Reclaim(ctx); err != nil || rc != 0 {
		t.Fatalf("reclaim: %d %v", rc, err)
	}
	if err := seller.Journal().Close(); err != nil {
		t.Fatal(err)
	}
	seller2 := paytest.WalletAt(t, sellerDir, sellerKey, nil, m.URL())
	if _, err := seller2.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	k2, err := tab.NewKeeper(seller2, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if tb, err := k2.Tab(ctx, buyerPub); err != nil || tb.Deposited != 15 || tb.Debited != 0 {
		t.Fatalf("tab after restart: %+v %v", tb, err)
	}
	ch, err := k2.CloseTab(ctx, buyerPub)
	if err != nil || ch.Amount != 15 {
		t.Fatalf("close: %+v %v", ch, err)
	}
	if _, err := buyer.Receive(ctx, ch.Token, cashu.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	if b := balance(t, buyer); b != 40 {
		t.Fatalf("buyer %d, want all 40 back", b)
	}
}

func TestCloseIdle(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	buyerKey := paytest.NewKey(t)
	buyerPub := pubOf(t, buyerKey)
	buyer := paytest.WalletAt(t, t.TempDir(), buyerKey, nil, m.URL())
	if err := buyer.Fund(ctx, 30); err != nil {
		t.Fatal(err)
	}
	seller := paytest.Wallet(t, nil, m.URL())
	cfg := tab.DefaultConfig()
	cfg.StepUnits, cfg.StepSats = mib, 1
	k, err := tab.NewKeeper(seller, cfg)
	if err != nil {
		t.Fatal(err)
	}
	payer := &tab.Payer{Wallet: buyer, Seller: seller.PublicKey(), Deposit: 10}
	meterRun(ctx, t, k, payer, transport.Session{ID: "s1", Buyer: buyerPub}, 2*mib, mib)
	// A running stream keeps the tab open however idle.
	running := transport.Session{ID: "s2", Buyer: buyerPub}
	if _, err := k.Open(ctx, running); err != nil {
		t.Fatal(err)
	}
	if chs, err := k.CloseIdle(ctx, -time.Second); err != nil || len(chs) != 0 {
		t.Fatalf("closed with a stream running: %+v %v", chs, err)
	}
	k.Close(ctx, running, transport.Usage{})
	// Not idle long enough.
	if chs, err := k.CloseIdle(ctx, time.Hour); err != nil || len(chs) != 0 {
		t.Fatalf("closed a fresh tab: %+v %v", chs, err)
	}
	chs, err := k.CloseIdle(ctx, -time.Second)
	if err != nil || len(chs) != 1 || chs[0].Amount != 8 {
		t.Fatalf("idle close: %+v %v", chs, err)
	}
	if back, err := payer.Settle(ctx, chs[0]); err != nil || back != 8 {
		t.Fatalf("settle: %d %v", back, err)
	}
}

// TestConcurrentDraws: many streams draw from one tab at once; the steps
// granted never pass the deposit.
func TestConcurrentDraws(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	buyerKey := paytest.NewKey(t)
	buyerPub := pubOf(t, buyerKey)
	buyer := paytest.WalletAt(t, t.TempDir(), buyerKey, nil, m.URL())
	if err := buyer.Fund(ctx, 20); err != nil {
		t.Fatal(err)
	}
	seller := paytest.Wallet(t, nil, m.URL())
	cfg := tab.DefaultConfig()
	cfg.StepUnits, cfg.StepSats, cfg.DrawSteps = mib, 2, 2
	k, err := tab.NewKeeper(seller, cfg)
	if err != nil {
		t.Fatal(err)
	}
	payer := &tab.Payer{Wallet: buyer, Seller: seller.PublicKey(), Deposit: 11}
	dep, err := payer.Pay(ctx, transport.Invoice{})
	if err != nil {
		t.Fatal(err)
	}
	first := transport.Session{ID: "s0", Buyer: buyerPub}
	granted, err := k.Redeem(ctx, first, dep)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := transport.Session{ID: fmt.Sprint("s", i+1), Buyer: buyerPub}
			for range 4 {
				u, err := k.Redeem(ctx, s, []byte(tab.DrawToken))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				granted += u
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// 11 sat at 2 sat a step: 5 steps, whatever the interleaving.
	tb, err := k.Tab(ctx, buyerPub)
	if err != nil || granted != 5*mib || tb.Debited != 10 || tb.Balance() != 1 {
		t.Fatalf("granted %d MiB, tab %+v %v", granted/mib, tb, err)
	}
}

// TestUnredeemedDepositComesBack: the seller died before redeeming a
// deposit; the buyer's Settle (or Reclaim) takes it back.
func TestUnredeemedDepositComesBack(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	buyer := paytest.Funded(t, 30, nil, m.URL())
	payer := &tab.Payer{Wallet: buyer, Deposit: 12}
	if _, err := payer.Pay(ctx, transport.Invoice{Need: 1}); err != nil {
		t.Fatal(err)
	}
	if b := balance(t, buyer); b != 18 {
		t.Fatalf("after deposit %d", b)
	}
	back, err := payer.Settle(ctx, tab.Change{})
	if err != nil || back != 12 || balance(t, buyer) != 30 {
		t.Fatalf("settle: %d %v, balance %d", back, err, balance(t, buyer))
	}
}

// TestConcurrentDeposits: deposits from one buyer arriving at once (the
// concurrent top-ups that lose funds elsewhere) all land on one tab and
// all come back as change.
func TestConcurrentDeposits(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	buyerKey := paytest.NewKey(t)
	buyerPub := pubOf(t, buyerKey)
	buyer := paytest.WalletAt(t, t.TempDir(), buyerKey, nil, m.URL())
	if err := buyer.Fund(ctx, 100); err != nil {
		t.Fatal(err)
	}
	seller := paytest.Wallet(t, nil, m.URL())
	cfg := tab.DefaultConfig()
	cfg.StepUnits, cfg.StepSats = mib, 1
	k, err := tab.NewKeeper(seller, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var tokens [][]byte
	for range 8 {
		s, err := buyer.Send(ctx, 5, cashu.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, []byte(s.Token))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var granted uint64
	for i, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := transport.Session{ID: fmt.Sprint("d", i), Buyer: buyerPub}
			u, err := k.Redeem(ctx, s, tok)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			granted += u
			mu.Unlock()
			k.Close(ctx, s, transport.Usage{})
		}()
	}
	wg.Wait()
	var open int
	if err := seller.Journal().DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM tabs`).Scan(&open); err != nil || open != 1 {
		t.Fatalf("%d tabs, want 1 (%v)", open, err)
	}
	tb, err := k.Tab(ctx, buyerPub)
	if err != nil || tb.Deposited != 40 || granted != 8*mib || tb.Carry != 8*mib {
		t.Fatalf("tab %+v, granted %d MiB: %v", tb, granted/mib, err)
	}
	// Nothing used: everything comes back.
	ch, err := k.CloseTab(ctx, buyerPub)
	if err != nil || ch.Amount != 40 {
		t.Fatalf("change %+v %v", ch, err)
	}
	if _, err := buyer.Receive(ctx, ch.Token, cashu.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	if b := balance(t, buyer); b != 100 {
		t.Fatalf("buyer %d, want 100", b)
	}
}
