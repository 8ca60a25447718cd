package agentd

import (
	"context"
	"fmt"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/budget"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
)

// DefaultBudgetKind is the kind of owner-signed spending authorizations
// (market/pay/budget) until nips names one: NIP-78 application data.
const DefaultBudgetKind = 30078

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

// LoadAuthorizations reads the owners' spending authorizations for this
// agent (and their NIP-09 revocations) from the relays into the guard.
// It returns how many are in force.
func (n *Node) LoadAuthorizations(ctx context.Context) (int, error) {
	if n.guard == nil {
		return 0, nil
	}
	kind := n.Config.BudgetKind
	evs, err := n.Relays.Query(ctx, nostr.Filter{Kinds: []int{kind}, Authors: n.Config.BudgetOwners, Tags: nostr.TagMap{"p": {n.Key.Pubkey}}})
	if err != nil {
		return 0, err
	}
	added := 0
	for _, ev := range evs {
		if _, err := n.guard.Add(ctx, ev); err == nil {
			added++
		} else {
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

// budgetFor returns the wallet's budget: the local caps, and with budget
// owners configured, their signed authorizations as well (only theirs:
// the guard refuses any other signer, the agent's own key included).
func (n *Node) budgetFor() cashu.Budget {
	if len(n.Config.BudgetOwners) == 0 {
		return n.Budget
	}
	n.guard = budget.NewGuard(n.Journal, n.Key.Pubkey, n.Config.BudgetKind, n.Config.BudgetOwners)
	return bothBudgets{local: n.Budget, owner: n.guard}
}
