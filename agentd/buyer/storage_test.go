package buyer

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/keystore"
	"github.com/sovmesh/sovmesh/agentd/safebox"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/nips"
)

func TestStoragePutKillGet(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	var provs []*runningProvider
	for i, price := range []uint64{2_000_000, 3_000_000, 4_000_000} {
		provs = append(provs, startProviderWith(t, net, "prov"+string(rune('a'+i)), storageCfg(price), killable(i == 0)))
	}
	bn := net.Node(t, "buyer", 5000)
	b, err := New(ctx, bn, Config{StorageDuration: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cands, err := b.Discover(ctx, nips.Storage, "")
	if err != nil || len(cands) != 3 {
		t.Fatalf("discover: %d %v", len(cands), err)
	}
	if cands[0].Offer.Pubkey != provs[0].Node.Key.Pubkey {
		t.Fatalf("cheapest provider not ranked first")
	}
	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	before, _ := bn.Wallet.Balance(ctx)
	var last int64
	e, err := b.Put(ctx, bytes.NewReader(data), "blob.bin", int64(len(data)), func(done, total int64) { last = done })
	if err != nil {
		t.Fatal(err)
	}
	if last != int64(len(data)) {
		t.Fatalf("progress ended at %d", last)
	}
	after, _ := bn.Wallet.Balance(ctx)
	if after >= before {
		t.Fatalf("nothing paid: %d -> %d", before, after)
	}
	// Earnings equal the spend.
	var earned uint64
	for _, p := range provs {
		tot, _ := p.Node.DB.Totals(ctx, time.Time{})
		if tot.Net() == 0 {
			t.Fatalf("provider %s earned nothing", p.Node.Key.Pubkey)
		}
		earned += tot.Net()
	}
	if earned != before-after {
		t.Fatalf("spent %d, providers earned %d", before-after, earned)
	}
	// Receipts are countersigned and on the relay.
	sess, _ := bn.DB.Sessions(ctx, 10)
	receipts := 0
	for _, s := range sess {
		if s.Role == state.RoleBuyer && s.ReceiptID != "" {
			receipts++
		}
	}
	if receipts != 3 {
		t.Fatalf("%d receipts, want 3", receipts)
	}
	// Each provider is attested, delivered, for what its receipt says.
	checkAttestations(t, bn, provs)

	// Every provider proves it holds its shards.
	reps, err := b.Audit(ctx, e.Root)
	if err != nil || len(reps) != 3 {
		t.Fatalf("audit: %+v %v", reps, err)
	}
	for _, r := range reps {
		if r.Failed != 0 || r.Proved == 0 {
			t.Fatalf("audit of %s: %+v", r.Provider, r)
		}
	}

	// Kill the cheapest provider; the file comes back intact.
	provs[0].Kill()
	var out bytes.Buffer
	if _, err := b.Get(ctx, e.Root, &out, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("file differs")
	}
	// The dead provider fails the next audit round; the others still prove.
	reps, err = b.Audit(ctx, e.Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		dead := r.Provider == provs[0].Node.Key.Pubkey
		if dead != (r.Failed > 0) {
			t.Fatalf("audit after the kill: %+v", r)
		}
	}
	// A new machine with the same key reads it too (key from the SafeBox).
	cfg := net.Config("buyer-new-machine")
	if _, err := keystore.Import(filepath.Join(cfg.DataDir, "keys"), bn.Key.Secret, keystore.Options{LogN: 4}); err != nil {
		t.Fatal(err)
	}
	n2, err := agentd.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	if err := n2.Wallet.Fund(ctx, 500); err != nil {
		t.Fatal(err)
	}
	b2, err := New(ctx, n2, Config{})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if _, err := b2.Get(ctx, e.Root, &out, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("file differs on the new machine")
	}
	if _, err := b2.Get(ctx, strings.Repeat("ab", 32), &out, nil); !errors.Is(err, safebox.ErrNotFound) {
		t.Fatalf("unknown root: %v", err)
	}
	// A grant lets a friend fetch this file, and only this one.
	fn := net.Node(t, "friend", 500)
	fb, err := New(ctx, fn, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fb.Get(ctx, e.Root, &out, nil); !errors.Is(err, safebox.ErrNotFound) {
		t.Fatalf("friend read the file before the grant: %v", err)
	}
	if err := bn.Box().Grant(ctx, e.Root, fn.Key.Pubkey); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if _, err := fb.Get(ctx, e.Root, &out, nil); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("granted get: %v", err)
	}
}

func TestBudgetRefusesOverspend(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	startProvider(t, net, "p", storageCfg(2_000_000_000)) // 2M sat per GiB-day: ~2000 sat per MiB
	cfg := net.Config("buyer")
	cfg.BudgetPerDay = 50
	bn, err := agentd.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer bn.Close()
	// Enough sats for the first step (~5,900 sat), so that only the
	// budget can refuse it.
	if err := bn.Wallet.Fund(ctx, 10_000); err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, bn, Config{Replicas: 1, StorageDuration: 24 * time.Hour,
		Ceilings: map[nips.Resource]nips.Prices{nips.Storage: {{Unit: nips.UnitGiBDay, Msat: 3_000_000_000}}}})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 2<<20)
	if _, err := b.Put(ctx, bytes.NewReader(data), "big", int64(len(data)), nil); err == nil || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("put over budget: %v", err)
	}
	if bal, _ := bn.Wallet.Balance(ctx); bal < 10_000-50 {
		t.Fatalf("balance %d: more than the budget left", bal)
	}
}

func TestPutMovesOnWhenAProviderDies(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	var provs []*runningProvider
	for i, price := range []uint64{2_000_000, 4_000_000, 4_200_000, 4_400_000} {
		provs = append(provs, startProviderWith(t, net, "prov"+string(rune('a'+i)), storageCfg(price), killable(i == 0)))
	}
	bn := net.Node(t, "buyer", 5000)
	b, err := New(ctx, bn, Config{StorageDuration: 24 * time.Hour, PrivateBids: true})
	if err != nil {
		t.Fatal(err)
	}
	// 4 stripes of 2 MiB (2+1 over 3 providers, 1 MiB chunks): the kill
	// comes once more than a third is read, so at least the last stripe
	// is read after the cheapest provider is gone and the put must move
	// on. A larger file adds bytes, not cases (24 MiB took 3x as long
	// under -race).
	data := make([]byte, 8<<20)
	rand.Read(data)
	var once sync.Once
	e, err := b.Put(ctx, bytes.NewReader(data), "f", int64(len(data)), func(done, total int64) {
		if done > total/3 {
			once.Do(provs[0].Kill) // mid-put, while the reader waits
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range e.Providers {
		if p == provs[0].Node.Key.Pubkey {
			t.Fatal("the dead provider holds the file")
		}
	}
	// The first attempt used the cheapest provider and was abandoned.
	ss, _ := bn.DB.Sessions(ctx, 20)
	failed := 0
	for _, s := range ss {
		if s.State == "failed" && s.Counterparty == provs[0].Node.Key.Pubkey {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no failed session with the killed provider: the put never moved on")
	}
	// The providers holding the file are attested once each, delivered
	// (the abandoned first attempt's sessions get no attestation); the
	// killed provider gets none, since it signed no receipt to point at,
	// but it has a recorded failure, which ranks it lower.
	var holders []*runningProvider
	for _, p := range provs {
		if slices.Contains(e.Providers, p.Node.Key.Pubkey) {
			holders = append(holders, p)
		}
	}
	if len(holders) != len(e.Providers) {
		t.Fatalf("file on %v, not all of them ours", e.Providers)
	}
	checkAttestations(t, bn, holders)
	if st, _ := bn.DB.Providers(ctx); st[provs[0].Node.Key.Pubkey].Failed == 0 {
		t.Fatalf("no failure recorded for the killed provider: %+v", st[provs[0].Node.Key.Pubkey])
	}
	var out bytes.Buffer
	if _, err := b.Get(ctx, e.Root, &out, nil); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("get: %v", err)
	}
}

// TestPrivateBidNeverPublic: a private bid is answered, and the relay holds
// no kind-8460 event of the buyer.
func TestPrivateBidNeverPublic(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	startProvider(t, net, "p", storageCfg(2_000_000))
	bn := net.Node(t, "buyer", 100)
	b, err := New(ctx, bn, Config{PrivateBids: true})
	if err != nil {
		t.Fatal(err)
	}
	cands, err := b.Discover(ctx, nips.Storage, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Open(ctx, cands[0], 1, 86400, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Match.Buyer != bn.Key.Pubkey {
		t.Fatal("match for someone else")
	}
	evs, _ := bn.Relays.Query(ctx, nostr.Filter{Kinds: []int{nips.KindBid}, Authors: []string{bn.Key.Pubkey}})
	if len(evs) != 0 {
		t.Fatalf("%d public bids of a private buyer", len(evs))
	}
}

// TestRetention: a provider keeps chunks for the paid storage period and
// deletes them after it; files paid for longer stay.
func TestRetention(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	p := startProvider(t, net, "p", storageCfg(2_000_000))
	bn := net.Node(t, "buyer", 1000)
	short, err := New(ctx, bn, Config{Replicas: 1, StorageDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	long, err := New(ctx, bn, Config{Replicas: 1, StorageDuration: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	es, err := short.Put(ctx, bytes.NewReader(data), "short", int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	el, err := long.Put(ctx, bytes.NewReader(data), "long", int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The sweep is given the time: now, then two hours on (the hour's
	// file expired, the day's not), however long the puts took.
	if n, err := p.P.SweepExpired(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("swept %d before expiry: %v", n, err)
	}
	if n, err := p.P.SweepExpired(ctx, time.Now().Add(2*time.Hour)); err != nil || n == 0 {
		ss, _ := p.Node.DB.Sessions(ctx, 20)
		var desc []string
		for _, s := range ss {
			desc = append(desc, fmt.Sprintf("%s %s %s dur=%d", s.ID[:8], s.Resource, s.State, s.Duration))
		}
		t.Fatalf("swept %d two hours on: %v; provider sessions %v", n, err, desc)
	}
	var out bytes.Buffer
	if _, err := long.Get(ctx, es.Root, &out, nil); err == nil {
		t.Fatal("an expired file is still served")
	}
	out.Reset()
	if _, err := long.Get(ctx, el.Root, &out, nil); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("the file paid for a day is gone: %v", err)
	}
}
