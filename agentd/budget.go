package agentd

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/budget"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
)

// DefaultBudgetKind is the kind of owner-signed spending authorizations
// (market/pay/budget): nips.KindSpendingAuthorization.
const DefaultBudgetKind = nips.KindSpendingAuthorization

// budgetKinds are the kinds of authorizations the agent reads: the
// configured one and the older nips.KindLegacySpendingAuthorization.
func (n *Node) budgetKinds() []int {
	if n.Config.BudgetKind == nips.KindLegacySpendingAuthorization {
		return []int{n.Config.BudgetKind}
	}
	return []int{n.Config.BudgetKind, nips.KindLegacySpendingAuthorization}
}

// bothBudgets asks the local caps and the owner's authorization; a payment
// must pass both. Exempt payments (change) pass.
type bothBudgets struct {
	local *state.Budget
	owner *budget.Guard
}

// Reserve implements cashu.Budget.
func (b bothBudgets) Reserve(ctx context.Context, counterparty string, sats uint64) (func(context.Context, bool) error, error) {
	c1, err := b.local.Reserve(ctx, counterparty, sats)
	if err != nil {
		return nil, err
	}
	if state.IsExempt(ctx) {
		return c1, nil
	}
	c2, err := b.owner.Reserve(ctx, counterparty, sats)
	if err != nil {
		_ = c1(ctx, false)
		return nil, fmt.Errorf("owner's spending authorization: %w", err)
	}
	return func(ctx context.Context, paid bool) error {
		e1 := c1(ctx, paid)
		if e2 := c2(ctx, paid); e2 != nil {
			return e2
		}
		return e1
	}, nil
}

// OwnerAuthorization returns the owner's spending authorization payments
// are now checked against and the sats spent under it today. ok is false
// when no budget owner is configured; err wraps budget.ErrNoBudget when
// owners are and none of their authorizations is in force.
func (n *Node) OwnerAuthorization(ctx context.Context) (a budget.Authorization, spentToday uint64, ok bool, err error) {
	if n.guard == nil {
		return a, 0, false, nil
	}
	a, spentToday, err = n.guard.Current(ctx)
	return a, spentToday, true, err
}

// LoadAuthorizations reads the owners' spending authorizations for this
// agent (and their NIP-09 revocations) from the relays into the guard.
// It returns how many are in force.
func (n *Node) LoadAuthorizations(ctx context.Context) (int, error) {
	if n.guard == nil {
		return 0, nil
	}
	evs, err := n.Relays.Query(ctx, nostr.Filter{Kinds: n.budgetKinds(), Authors: n.Config.BudgetOwners, Tags: nostr.TagMap{"p": {n.Key.Pubkey}}})
	if err != nil {
		return 0, err
	}
	added := 0
	for _, ev := range evs {
		switch _, err := n.guard.Add(ctx, ev); {
		case err == nil:
			added++
		case errors.Is(err, budget.ErrExpired):
			n.Log.Debug("spending authorization expired", "id", ev.ID)
		default:
			n.Log.Warn("spending authorization refused", "id", ev.ID, "err", err)
		}
	}
	dels, err := n.Relays.Query(ctx, nostr.Filter{Kinds: []int{nostr.KindDeletion}, Authors: n.Config.BudgetOwners})
	if err == nil {
		for _, d := range dels {
			if k, err := n.guard.Revoke(ctx, d); err == nil {
				added -= k
			}
		}
	}
	return max(added, 0), nil
}

// WatchAuthorizations applies the owners' spending authorizations for this
// agent and their NIP-09 revocations as they arrive on the relays (the
// stored ones first), until ctx ends, so a running daemon stops spending as
// soon as an owner revokes. It asks the relays for the owners' events only,
// and the guard refuses (with a warning in the log) any other a relay
// sends. It blocks; run it in a goroutine the caller owns.
// With no budget owner configured it returns at once.
func (n *Node) WatchAuthorizations(ctx context.Context) {
	if n.guard == nil || len(n.Config.BudgetOwners) == 0 {
		return
	}
	owners := n.Config.BudgetOwners
	filters := nostr.Filters{
		{Kinds: n.budgetKinds(), Authors: owners, Tags: nostr.TagMap{"p": {n.Key.Pubkey}}},
		{Kinds: []int{nostr.KindDeletion}, Authors: owners},
	}
	w := &authWatch{n: n, deleted: map[string]*nostr.Event{}}
	n.Log.Info("watching spending authorizations", "owners", len(owners))
	n.Relays.Subscribe(ctx, filters, func(ev *nostr.Event) { w.apply(ctx, ev) }, nil)
}

// maxWatchedDeletions bounds the deletions an authWatch remembers.
const maxWatchedDeletions = 10_000

// authWatch applies arriving events one at a time (Subscribe calls back
// from one goroutine per relay). A relay may deliver a deletion before the
// authorization it deletes (stored events come newest first, and another
// relay may be faster), so the owners' deletions are remembered by the id
// or address they reference and applied again when that authorization
// arrives (an address deletion revokes only what was signed before it).
type authWatch struct {
	n       *Node
	mu      sync.Mutex
	deleted map[string]*nostr.Event // referenced event id or address -> owner's deletion
}

func (w *authWatch) apply(ctx context.Context, ev *nostr.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.Kind == nostr.KindDeletion {
		if w.revoke(ctx, ev) {
			if len(w.deleted) > maxWatchedDeletions {
				clear(w.deleted)
			}
			for _, t := range ev.Tags {
				if len(t) >= 2 && (t[0] == "e" || t[0] == "a") {
					w.deleted[t[1]] = ev
				}
			}
		}
		return
	}
	a, err := w.n.guard.Add(ctx, ev)
	switch {
	case ctx.Err() != nil:
		return
	case errors.Is(err, budget.ErrExpired):
		w.n.Log.Debug("spending authorization expired", "id", ev.ID)
		return
	case errors.Is(err, budget.ErrInvalidAuth):
		w.n.Log.Warn("spending authorization refused", "id", ev.ID, "author", shortKey(ev.PubKey), "err", err)
		return
	case err != nil:
		w.n.Log.Warn("spending authorization not stored", "id", ev.ID, "err", err)
		return
	}
	if del := w.deleted[a.ID]; del != nil {
		w.revoke(ctx, del)
		return
	}
	if del := w.deleted[fmt.Sprintf("%d:%s:%s", ev.Kind, ev.PubKey, ev.Tags.GetD())]; del != nil && del.CreatedAt >= ev.CreatedAt {
		w.revoke(ctx, del)
		return
	}
	w.n.Log.Info("spending authorization applied", "id", a.ID, "owner", shortKey(a.Owner),
		"per_day", a.PerDay, "per_counterparty", a.PerCounterparty, "expires", a.Expires.UTC())
}

// revoke applies del and reports whether the guard accepted it.
func (w *authWatch) revoke(ctx context.Context, del *nostr.Event) bool {
	k, err := w.n.guard.Revoke(ctx, del)
	switch {
	case ctx.Err() != nil:
		return false
	case errors.Is(err, budget.ErrInvalidRevok):
		w.n.Log.Warn("revocation refused", "id", del.ID, "author", shortKey(del.PubKey), "err", err)
		return false
	case err != nil:
		w.n.Log.Warn("revocation not applied", "id", del.ID, "err", err)
		return false
	}
	if k > 0 {
		w.n.Log.Info("spending authorizations revoked", "deletion", del.ID, "revoked", k)
	}
	return true
}

// shortKey abbreviates a hex pubkey for logs.
func shortKey(pubkey string) string {
	if len(pubkey) > 12 {
		return pubkey[:12]
	}
	return pubkey
}

// budgetFor returns the wallet's budget: the local caps, and with budget
// owners configured, their signed authorizations as well (only theirs:
// the guard refuses any other signer, the agent's own key included).
func (n *Node) budgetFor() cashu.Budget {
	if len(n.Config.BudgetOwners) == 0 {
		return n.budget
	}
	kinds := n.budgetKinds()
	n.guard = budget.NewGuard(n.journal, n.Key.Pubkey, kinds[0], n.Config.BudgetOwners, kinds[1:]...)
	return bothBudgets{local: n.budget, owner: n.guard}
}
