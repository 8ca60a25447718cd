package agentd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/market/pay/budget"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
)

// TestOwnerAuthorizations: with a budget owner configured, payments need
// the owner's signed authorization (and stay within it); a revocation
// stops them.
func TestOwnerAuthorizations(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	ownerSK := nostr.GeneratePrivateKey()
	ownerPub, _ := nostr.GetPublicKey(ownerSK)
	cfg := net.Config("agent")
	cfg.BudgetOwners = []string{ownerPub}
	n, err := agentd.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Wallet.Fund(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Wallet.Send(ctx, 5, cashu.SendOptions{Counterparty: "x"}); !errors.Is(err, budget.ErrNoBudget) {
		t.Fatalf("payment without an authorization: %v", err)
	}
	ev, err := budget.Sign(ownerSK, agentd.DefaultBudgetKind, budget.Authorization{Agent: n.Key.Pubkey, PerDay: 30, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Relays.Publish(ctx, *ev); err != nil {
		t.Fatal(err)
	}
	// Someone else's authorization for our agent is ignored.
	other := nostr.GeneratePrivateKey()
	forged, _ := budget.Sign(other, agentd.DefaultBudgetKind, budget.Authorization{Agent: n.Key.Pubkey, PerDay: 1 << 30, Expires: time.Now().Add(time.Hour)})
	_ = n.Relays.Publish(ctx, *forged)
	if k, err := n.LoadAuthorizations(ctx); err != nil || k != 1 {
		t.Fatalf("authorizations: %d %v", k, err)
	}
	if _, err := n.Wallet.Send(ctx, 20, cashu.SendOptions{Counterparty: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Wallet.Send(ctx, 20, cashu.SendOptions{Counterparty: "x"}); !errors.Is(err, budget.ErrOverBudget) {
		t.Fatalf("over the owner's budget: %v", err)
	}
	n.Close()
	// Revoked: a restarted agent may not pay.
	del := nostr.Event{Kind: nostr.KindDeletion, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"e", ev.ID}}}
	_ = del.Sign(ownerSK)
	n2, err := agentd.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	if err := n2.Relays.Publish(ctx, del); err != nil {
		t.Fatal(err)
	}
	_, _ = n2.LoadAuthorizations(ctx)
	if _, err := n2.Wallet.Send(ctx, 1, cashu.SendOptions{Counterparty: "x"}); err == nil {
		t.Fatal("payment after revocation")
	}
}
