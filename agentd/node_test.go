package agentd_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/market/pay/budget"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
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

// TestWatchAuthorizations: a running node applies its owner's
// authorization and then the owner's revocation as they reach the relay,
// without a restart; authorizations by anyone else change nothing (the
// relay itself refuses a deletion of someone else's event; the guard's
// refusal is tested in market/pay/budget).
func TestWatchAuthorizations(t *testing.T) {
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
	defer n.Close()
	if err := n.Wallet.Fund(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.WatchAuthorizations(wctx)
	}()
	defer func() {
		stop()
		<-done
	}()
	pay := func() error {
		_, err := n.Wallet.Send(ctx, 1, cashu.SendOptions{Counterparty: "x"})
		return err
	}
	if err := pay(); !errors.Is(err, budget.ErrNoBudget) {
		t.Fatalf("payment without an authorization: %v", err)
	}

	// A stranger's authorization and the agent's own are refused.
	for _, sk := range []string{nostr.GeneratePrivateKey(), n.Key.Secret} {
		ev, err := budget.Sign(sk, agentd.DefaultBudgetKind, budget.Authorization{Agent: n.Key.Pubkey, PerDay: 1 << 30, Expires: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Relays.Publish(ctx, *ev); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := budget.Sign(ownerSK, agentd.DefaultBudgetKind, budget.Authorization{Agent: n.Key.Pubkey, PerDay: 1000, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Relays.Publish(ctx, *ev); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a payment under the published authorization", func() bool {
		err := pay()
		if err != nil && !errors.Is(err, budget.ErrNoBudget) {
			t.Fatalf("payment: %v", err)
		}
		return err == nil
	})

	del := nostr.Event{Kind: nostr.KindDeletion, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"e", ev.ID}}}
	if err := del.Sign(ownerSK); err != nil {
		t.Fatal(err)
	}
	if err := n.Relays.Publish(ctx, del); err != nil {
		t.Fatal(err)
	}
	refused := func(what string) {
		t.Helper()
		waitFor(t, what, func() bool {
			err := pay()
			if err != nil && !errors.Is(err, budget.ErrNoBudget) {
				t.Fatalf("payment: %v", err)
			}
			return errors.Is(err, budget.ErrNoBudget)
		})
	}
	paid := func(what string) {
		t.Helper()
		waitFor(t, what, func() bool {
			err := pay()
			if err != nil && !errors.Is(err, budget.ErrNoBudget) {
				t.Fatalf("payment: %v", err)
			}
			return err == nil
		})
	}
	refused("payments refused after the owner's revocation")

	// A new grant at the same address; a deletion by address (NIP-09 "a")
	// revokes it.
	ev2, err := budget.Sign(ownerSK, agentd.DefaultBudgetKind, budget.Authorization{Agent: n.Key.Pubkey, PerDay: 1000, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ev2.CreatedAt = del.CreatedAt + 1
	if err := ev2.Sign(ownerSK); err != nil {
		t.Fatal(err)
	}
	if err := n.Relays.Publish(ctx, *ev2); err != nil {
		t.Fatal(err)
	}
	paid("a payment under the new grant")
	adel := nostr.Event{Kind: nostr.KindDeletion, CreatedAt: ev2.CreatedAt,
		Tags: nostr.Tags{{"a", fmt.Sprintf("%d:%s:%s", ev2.Kind, ownerPub, n.Key.Pubkey)}}}
	if err := adel.Sign(ownerSK); err != nil {
		t.Fatal(err)
	}
	if err := n.Relays.Publish(ctx, adel); err != nil {
		t.Fatal(err)
	}
	refused("payments refused after the deletion by address")

	// The older form (kind 30078, no d tag) is still read.
	old, err := budget.Sign(ownerSK, nips.KindLegacySpendingAuthorization, budget.Authorization{Agent: n.Key.Pubkey, PerDay: 1000, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	old.Tags = old.Tags[1:] // no d
	if err := old.Sign(ownerSK); err != nil {
		t.Fatal(err)
	}
	if err := n.Relays.Publish(ctx, *old); err != nil {
		t.Fatal(err)
	}
	paid("a payment under an older kind-30078 authorization")
}

// TestWatchAuthorizationsNoOwner: without budget owners there is nothing
// to watch and WatchAuthorizations returns at once.
func TestWatchAuthorizationsNoOwner(t *testing.T) {
	n := agentdtest.Start(t).Node(t, "agent", 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.WatchAuthorizations(t.Context())
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("WatchAuthorizations without owners did not return")
	}
}

// waitFor polls cond every 20 ms for up to 10 s and fails the test if it
// never holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
