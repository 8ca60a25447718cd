package buyer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/nips"
)

type ledgerCheck struct{ spent, pending uint64 }

func ledger(t *testing.T, n *agentd.Node) ledgerCheck {
	t.Helper()
	tot, err := n.DB.Totals(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return ledgerCheck{spent: tot.NetSpent() + tot.Fees, pending: tot.Pending}
}

func balance(t *testing.T, n *agentd.Node) uint64 {
	t.Helper()
	b, err := n.Wallet.Balance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRoutstrBuy: the buyer finds a routstr-core provider through its kind
// 38421 announcement (hostile content and all), ignores the hostile and
// unusable announcements beside it, pays one request in X-Cashu, redeems
// the change, and the sats are conserved exactly: what left the buyer is
// what the provider kept, and the buyer's ledger says so.
func TestRoutstrBuy(t *testing.T) {
	ctx := t.Context()
	nt := agentdtest.Start(t)
	cn := nt.Node(t, "core", 0)
	core := startCore(t, cn, "standin-1", "ok")
	bn := nt.Node(t, "buyer", 100)
	mint := nt.Mint.URL()
	// routstr-core's announcement, with content no metadata can be read from.
	corePub := announce(t, bn, cn.Key.Secret, coreTags(core, mint), "\x00{not json")
	// Beside it: announcements the buyer must not use.
	for _, h := range []struct {
		name string
		tags nostr.Tags
	}{
		{"bad u", nostr.Tags{{"d", "x"}, {"u", "javascript:alert(1)"}, {"mint", mint}}},
		{"foreign mint", nostr.Tags{{"d", "x"}, {"u", core.url}, {"mint", "https://mint.example.com"}}},
		{"unreachable", nostr.Tags{{"d", "x"}, {"u", "http://127.0.0.1:1"}, {"mint", mint}}},
		{"hostile prices", nostr.Tags{{"d", "x"}, {"u", hostileModels(t, `{"data":[{"id":"standin-1","sats_pricing":{"prompt":-1,"completion":1e300}},{"id":"standin-1","sats_pricing":{"prompt":"x"}},{"id":"","sats_pricing":{"prompt":0,"completion":0}}]}`)}, {"mint", mint}}},
		{"not json", nostr.Tags{{"d", "x"}, {"u", hostileModels(t, strings.Repeat("[", 100_000))}, {"mint", mint}}},
		{"over the ceiling", nostr.Tags{{"d", "x"}, {"u", hostileModels(t, `{"data":[{"id":"standin-1","sats_pricing":{"prompt":1,"completion":1}}]}`)}, {"mint", mint}}},
	} {
		announce(t, bn, nostr.GeneratePrivateKey(), h.tags, `{"name":"`+h.name+`"}`)
	}
	// By default the buyer connects to public addresses only: a provider
	// announced at a loopback address is never asked.
	pub, err := New(ctx, bn, Config{InferenceSources: SourcesRoutstr})
	if err != nil {
		t.Fatal(err)
	}
	if cands, _ := pub.candidates(ctx, nips.Inference, "standin-1"); len(cands) != 0 || core.models.Load() != 0 {
		t.Fatalf("candidates %+v (%d model lists served) at a loopback address without AllowPrivateSources", cands, core.models.Load())
	}
	b, err := New(ctx, bn, Config{InferenceSources: SourcesRoutstr, AllowPrivateSources: true})
	if err != nil {
		t.Fatal(err)
	}
	cands, err := b.candidates(ctx, nips.Inference, "standin-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 1 || cands[0].Offer.Pubkey != corePub || cands[0].Routstr == nil || cands[0].Routstr.URL != core.url || cands[0].Routstr.Mint != mint {
		t.Fatalf("candidates %+v, want the routstr-core provider alone", cands)
	}
	if p := cands[0].Offer.Prices; p[0].Msat != 10_000_000 || p[1].Msat != 50_000_000 {
		t.Fatalf("prices %v, want 0.01 and 0.05 sat per token as msats per 1M tokens", p)
	}

	before := balance(t, bn)
	ans, err := b.Ask(ctx, "standin-1", []Message{{Role: "user", Content: "hello"}}, 64)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Content != strings.Join(coreWords, " ") || ans.Provider != corePub || ans.CompletionTokens != uint64(len(coreWords)) || core.served.Load() != 1 {
		t.Fatalf("answer %+v (served %d)", ans, core.served.Load())
	}
	spent := before - balance(t, bn)
	kept := balance(t, cn)
	// 10 prompt tokens at 0.01 + 3 at 0.05 = 0.25 sat: 1 sat.
	if spent != 1 || kept != spent {
		t.Fatalf("the buyer spent %d sats, the provider kept %d; want 1 and 1", spent, kept)
	}
	if l := ledger(t, bn); l.spent != spent || l.pending != 0 {
		t.Fatalf("ledger: net spent %d, pending %d; the wallet spent %d", l.spent, l.pending, spent)
	}
}

// TestRoutstrFailures: a request that fails costs nothing, by itself: a
// provider whose model fails returns the payment (routstr-core's refund
// in X-Cashu), a provider that asks more than its quoted prices gets a 402
// and the buyer takes its token back; a provider that keeps the whole
// payment gets at most the quoted maximum and is not used again.
func TestRoutstrFailures(t *testing.T) {
	nt := agentdtest.Start(t)
	mint := nt.Mint.URL()
	for _, tc := range []struct {
		mode     string
		ok       bool
		wantCost uint64 // sats the buyer loses
	}{
		{"fail", false, 0},
		{"liar", false, 0},
		{"keep", true, 4}, // the quoted maximum: (33 prompt tokens x 0.01 + 64 x 0.05) sats, rounded up
	} {
		t.Run(tc.mode, func(t *testing.T) {
			ctx := t.Context()
			cn := nt.Node(t, "core-"+tc.mode, 0)
			core := startCore(t, cn, "m-"+tc.mode, tc.mode)
			bn := nt.Node(t, "buyer-"+tc.mode, 50)
			announce(t, bn, cn.Key.Secret, coreTags(core, mint), `{"name":"core"}`)
			b, err := New(ctx, bn, Config{InferenceSources: SourcesRoutstr, AllowPrivateSources: true})
			if err != nil {
				t.Fatal(err)
			}
			before := balance(t, bn)
			_, err = b.Ask(ctx, core.model, []Message{{Role: "user", Content: "hello"}}, 64)
			if tc.ok != (err == nil) {
				t.Fatalf("ask: %v", err)
			}
			lost := before - balance(t, bn)
			if lost != tc.wantCost || balance(t, cn) != lost {
				t.Fatalf("the buyer lost %d sats, the provider holds %d; want %d", lost, balance(t, cn), tc.wantCost)
			}
			if l := ledger(t, bn); l.spent != lost || l.pending != 0 {
				t.Fatalf("ledger: net spent %d, pending %d; the wallet lost %d", l.spent, l.pending, lost)
			}
			if tc.mode == "keep" {
				if _, err := b.Ask(ctx, core.model, []Message{{Role: "user", Content: "again"}}, 64); !errors.Is(err, ErrNoOffer) {
					t.Fatalf("an overcharging provider was used again: %v", err)
				}
			}
		})
	}
}

// TestRoutstrCrashBeforeChange: a payment sent to a provider that has not
// answered is journaled with its spend line, so a restarted agent's
// ReclaimStale takes it back; the provider's late redeem then fails, and
// the request that was in flight ends with nothing lost either.
func TestRoutstrCrashBeforeChange(t *testing.T) {
	ctx := t.Context()
	nt := agentdtest.Start(t)
	cn := nt.Node(t, "core", 0)
	core := startCore(t, cn, "standin-1", "hang")
	bn := nt.NodeWith(t, "buyer", 50, func(c *agentd.Config) { c.ReclaimGrace = time.Millisecond })
	announce(t, bn, cn.Key.Secret, coreTags(core, nt.Mint.URL()), "")
	b, err := New(ctx, bn, Config{InferenceSources: SourcesRoutstr, AllowPrivateSources: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.Ask(ctx, "standin-1", []Message{{Role: "user", Content: "hello"}}, 64)
		done <- err
	}()
	select {
	case <-core.got:
	case err := <-done:
		t.Fatalf("the request ended before reaching the provider: %v", err)
	}
	out, err := bn.DB.Outstanding(ctx)
	if err != nil || len(out) != 1 {
		t.Fatalf("outstanding payments %v (%v), want the one in flight", out, err)
	}
	rep, err := bn.ReclaimStale(ctx) // what Open runs after a crash
	if err != nil || len(rep.Reclaimed) != 1 {
		t.Fatalf("reclaim: %+v %v", rep, err)
	}
	close(core.release)
	if err := <-done; err == nil {
		t.Fatal("the provider served a reclaimed payment")
	}
	if got := balance(t, bn); got != 50 || balance(t, cn) != 0 {
		t.Fatalf("buyer %d sats (want 50), provider %d (want 0)", got, balance(t, cn))
	}
	if l := ledger(t, bn); l.spent != 0 || l.pending != 0 {
		t.Fatalf("ledger %+v", l)
	}
}

// TestRoutstrOwnProvider: the buyer buys from an agentd provider's Routstr
// endpoint (agentd provide --routstr), found through its 38421, and the
// sats it spends are what the provider earned net of the change.
func TestRoutstrOwnProvider(t *testing.T) {
	ctx := t.Context()
	nt := agentdtest.Start(t)
	llm := agentdtest.StartLLM(t, "standin-1", words, 0)
	cfg := inferenceCfg(llm, 10_000_000, 50_000_000)
	cfg.Routstr = "127.0.0.1:0"
	p := startProvider(t, nt, "p", cfg)
	bn := nt.Node(t, "buyer", 200)
	// Its announcement follows its offer.
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got := make(chan struct{}, 1)
	go bn.Relays.Subscribe(sctx, nostr.Filters{{Kinds: []int{nips.KindRoutstr}, Authors: []string{p.Node.Key.Pubkey}}}, func(*nostr.Event) {
		select {
		case got <- struct{}{}:
		default:
		}
	}, nil)
	select {
	case <-got:
	case <-sctx.Done():
		t.Fatal("no 38421 announcement from the provider")
	}
	b, err := New(ctx, bn, Config{InferenceSources: SourcesRoutstr, AllowPrivateSources: true})
	if err != nil {
		t.Fatal(err)
	}
	before := balance(t, bn)
	ans, err := b.Ask(ctx, "standin-1", []Message{{Role: "user", Content: "hello"}}, 64)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Content != strings.Join(words, " ") || ans.Provider != p.Node.Key.Pubkey || llm.Requests.Load() != 1 {
		t.Fatalf("answer %+v", ans)
	}
	spent := before - balance(t, bn)
	tot, err := p.Node.DB.Totals(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if spent == 0 || tot.Net() != spent || tot.Change == 0 {
		t.Fatalf("the buyer spent %d sats; the provider earned %d net (change %d)", spent, tot.Net(), tot.Change)
	}
	if l := ledger(t, bn); l.spent != spent || l.pending != 0 {
		t.Fatalf("ledger %+v, the wallet spent %d", l, spent)
	}
	var sessions []state.Session
	if sessions, err = bn.DB.Sessions(ctx, 10); err != nil || len(sessions) != 0 {
		t.Fatalf("a Routstr purchase opened sovmesh sessions: %v %v", sessions, err)
	}
}

// TestParseRoutstrModels: sovmesh's exact msat_pricing wins over
// sats_pricing; unusable models are left out.
func TestParseRoutstrModels(t *testing.T) {
	ms, err := parseRoutstrModels([]byte(`{"data":[
		{"id":"a","msat_pricing":{"prompt_per_1m":7,"completion_per_1m":9},"sats_pricing":{"prompt":1,"completion":1}},
		{"id":"b","sats_pricing":{"prompt":0.000001,"completion":0.5,"request":2}},
		{"id":"c","sats_pricing":{"prompt":-0.1,"completion":1}},
		{"id":"d"},
		{"id":"a","sats_pricing":{"prompt":0,"completion":0}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].ID != "a" || ms[0].Prices[0].Msat != 7 || ms[0].Prices[1].Msat != 9 ||
		ms[1].ID != "b" || ms[1].Prices[0].Msat != 1000 || ms[1].Prices[1].Msat != 500_000_000 || ms[1].RequestMsat != 2000 {
		t.Fatalf("models %+v", ms)
	}
	if _, err := parseRoutstrModels([]byte("[")); err == nil {
		t.Fatal("a body that is not JSON parsed")
	}
}

func FuzzParseRoutstrModels(f *testing.F) {
	f.Add([]byte(`{"data":[{"id":"a","sats_pricing":{"prompt":0.1,"completion":1,"request":0}}]}`))
	f.Add([]byte(`{"data":[{"id":"a","msat_pricing":{"prompt_per_1m":1,"completion_per_1m":2}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := parseRoutstrModels(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, m := range ms {
			if m.ID == "" || seen[m.ID] || len(m.Prices) != 2 || m.Prices.Max() > nips.MaxMsat {
				t.Fatalf("model %+v", m)
			}
			seen[m.ID] = true
		}
	})
}

// TestRoutstrRankedWithOffers: with --inference-sources all, Routstr
// providers and sovmesh offers are ranked together; the cheaper Routstr
// provider is tried first, and when its model fails the request moves to
// the sovmesh provider, the Routstr payment refunded.
func TestRoutstrRankedWithOffers(t *testing.T) {
	ctx := t.Context()
	nt := agentdtest.Start(t)
	llm := agentdtest.StartLLM(t, "standin-1", words, 0)
	p := startProvider(t, nt, "p", inferenceCfg(llm, 10_000_000, 50_000_000))
	cn := nt.Node(t, "core", 0)
	core := startCore(t, cn, "standin-1", "fail")
	core.prompt, core.compl = 0.001, 0.005 // a tenth of the offer's prices
	bn := nt.Node(t, "buyer", 100)
	corePub := announce(t, bn, cn.Key.Secret, coreTags(core, nt.Mint.URL()), "")
	b, err := New(ctx, bn, Config{InferenceSources: SourcesAll, AllowPrivateSources: true})
	if err != nil {
		t.Fatal(err)
	}
	cands, err := b.candidates(ctx, nips.Inference, "standin-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 2 || cands[0].Offer.Pubkey != corePub || cands[0].Routstr == nil || cands[1].Offer.Pubkey != p.Node.Key.Pubkey || cands[1].Routstr != nil {
		t.Fatalf("candidates %+v, want the Routstr provider, then the offer", cands)
	}
	before := balance(t, bn)
	ans, err := b.Ask(ctx, "standin-1", []Message{{Role: "user", Content: "hello"}}, 64)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Provider != p.Node.Key.Pubkey || ans.Content != strings.Join(words, " ") {
		t.Fatalf("answer %+v, want the offer's provider after the Routstr one failed", ans)
	}
	spent := before - balance(t, bn)
	tot, err := p.Node.DB.Totals(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if balance(t, cn) != 0 || tot.Net() != spent {
		t.Fatalf("the buyer spent %d sats: the offer's provider earned %d, the failed Routstr one holds %d", spent, tot.Net(), balance(t, cn))
	}
}

// TestRoutstrBudget: a Routstr payment passes the agent's budgets as every
// other buy does: one over the per-counterparty cap is refused before any
// token leaves, and the request fails as a wallet refusal.
func TestRoutstrBudget(t *testing.T) {
	ctx := t.Context()
	nt := agentdtest.Start(t)
	cn := nt.Node(t, "core", 0)
	core := startCore(t, cn, "standin-1", "ok")
	bn := nt.NodeWith(t, "buyer", 100, func(c *agentd.Config) { c.BudgetPerCounterparty = 3 }) // the request may cost 4
	announce(t, bn, cn.Key.Secret, coreTags(core, nt.Mint.URL()), "")
	b, err := New(ctx, bn, Config{InferenceSources: SourcesRoutstr, AllowPrivateSources: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Ask(ctx, "standin-1", []Message{{Role: "user", Content: "hello"}}, 64)
	if !walletRefused(err) {
		t.Fatalf("ask over the budget: %v", err)
	}
	if balance(t, bn) != 100 || balance(t, cn) != 0 || core.served.Load() != 0 {
		t.Fatalf("buyer %d, provider %d, served %d", balance(t, bn), balance(t, cn), core.served.Load())
	}
}
