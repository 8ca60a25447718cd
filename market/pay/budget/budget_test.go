package budget_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/budget"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

const authKind = 30078 // stand-in until the nips package names the kind

func TestBudget(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	ownerSK := nostr.GeneratePrivateKey()
	agentKey := paytest.NewKey(t)
	agentPub, _ := nostr.GetPublicKey(agentKey)
	dir := t.TempDir()
	j := paytest.OpenJournal(t, dir)
	guard := budget.NewGuard(j, agentPub, authKind)
	cfg := cashu.DefaultConfig()
	cfg.Mints, cfg.PrivateKey, cfg.Budget = []string{m.URL()}, agentKey, guard
	w, err := cashu.Open(ctx, j, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Fund(ctx, 200); err != nil {
		t.Fatal(err)
	}
	alice, bob := nostr.GeneratePrivateKey()[:64], "b0b0000000000000000000000000000000000000000000000000000000000000"

	if _, err := w.Send(ctx, 1, cashu.SendOptions{Counterparty: alice}); !errors.Is(err, budget.ErrNoBudget) {
		t.Fatalf("no authorization: %v", err)
	}
	ev, err := budget.Sign(ownerSK, authKind, budget.Authorization{Agent: agentPub, PerDay: 50, PerCounterparty: 30, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := guard.Add(ctx, ev); err != nil {
		t.Fatal(err)
	}
	forged := *ev
	forged.Tags = append(nostr.Tags{}, ev.Tags...)
	forged.Tags[1] = nostr.Tag{"per_day", "999999"}
	if _, err := guard.Add(ctx, &forged); !errors.Is(err, budget.ErrInvalidAuth) {
		t.Fatalf("forged: %v", err)
	}
	steps := []struct {
		name   string
		to     string
		amount uint64
		want   error
	}{
		{"within", alice, 20, nil},
		{"over per counterparty", alice, 11, budget.ErrOverBudget},
		{"other counterparty", bob, 25, nil},
		{"over per day", bob, 6, budget.ErrOverBudget},
		{"exactly to the day limit", bob, 5, nil},
	}
	for _, s := range steps {
		before, _ := w.Balance(ctx)
		_, err := w.Send(ctx, s.amount, cashu.SendOptions{Counterparty: s.to})
		if !errors.Is(err, s.want) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
		after, _ := w.Balance(ctx)
		if s.want != nil && after != before {
			t.Fatalf("%s: refused payment moved money", s.name)
		}
	}
	// Revocation by someone else does nothing; by the owner it stops spending.
	other := nostr.GeneratePrivateKey()
	del := &nostr.Event{Kind: nostr.KindDeletion, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"e", ev.ID}}}
	_ = del.Sign(other)
	if n, _ := guard.Revoke(ctx, del); n != 0 {
		t.Fatal("stranger revoked")
	}
	ev2, _ := budget.Sign(ownerSK, authKind, budget.Authorization{Agent: agentPub, PerDay: 1000, Expires: time.Now().Add(time.Hour)})
	guard.Add(ctx, ev2)
	del = &nostr.Event{Kind: nostr.KindDeletion, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"e", ev.ID}, {"e", ev2.ID}}}
	_ = del.Sign(ownerSK)
	if n, err := guard.Revoke(ctx, del); n != 2 || err != nil {
		t.Fatalf("revoke: %d %v", n, err)
	}
	if _, err := w.Send(ctx, 1, cashu.SendOptions{Counterparty: alice}); !errors.Is(err, budget.ErrNoBudget) {
		t.Fatalf("after revocation: %v", err)
	}
}
