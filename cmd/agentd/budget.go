package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/sovmesh/sovmesh/agentd/relays"
	"github.com/sovmesh/sovmesh/market/pay/budget"
	"github.com/sovmesh/sovmesh/nips"
)

// ErrOwnerKey means the --owner-key file cannot be used.
var ErrOwnerKey = errors.New("owner key file")

// cmdBudget runs "budget grant AGENT" and "budget revoke AGENT": the
// owner's side of spending authorizations (nips/budget.md), signed with the
// key in the --owner-key file and published to the relays. It needs no data
// directory: the owner is usually on another machine than the agent.
func cmdBudget(ctx context.Context, e *env) error {
	if len(e.args) != 2 || (e.args[0] != "grant" && e.args[0] != "revoke") {
		return usageError("budget: grant AGENT --owner-key FILE --per-day SATS | revoke AGENT --owner-key FILE")
	}
	agent, err := pubkeyArg(e.args[1])
	if err != nil {
		return usageError(fmt.Sprintf("budget %s: AGENT %q: want a hex pubkey or npub", e.args[0], e.args[1]))
	}
	if e.cfg.ownerKey == "" {
		return usageError("budget " + e.args[0] + ": set --owner-key FILE (SOVMESH_OWNER_KEY), the owner's secret key in a file of mode 0600")
	}
	if e.args[0] == "grant" && e.cfg.grantPerDay == 0 {
		return usageError("budget grant: set --per-day SATS (SOVMESH_PER_DAY), what the agent may spend per UTC day")
	}
	sk, err := readOwnerKey(e.cfg.ownerKey)
	if err != nil {
		return err
	}
	owner, _ := nostr.GetPublicKey(sk)
	pool, err := relays.New(e.cfg.node.Relays, e.cfg.node.Logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	kind := e.cfg.node.BudgetKind
	if e.args[0] == "grant" {
		a := budget.Authorization{Agent: agent, PerDay: e.cfg.grantPerDay, PerCounterparty: e.cfg.grantPerCp, Expires: time.Now().Add(e.cfg.grantExpires)}
		ev, err := budget.Sign(sk, kind, a)
		if err != nil {
			return err
		}
		if err := pool.Publish(ctx, *ev); err != nil {
			return fmt.Errorf("budget grant: publish: %w", err)
		}
		cp := "no per-counterparty cap"
		if a.PerCounterparty > 0 {
			cp = fmt.Sprintf("at most %d sats to one counterparty", a.PerCounterparty)
		}
		fmt.Fprintf(e.stdout, "authorization %s\n", ev.ID)
		fmt.Fprintf(e.stderr, "agentd: %s may spend %d sats per UTC day (%s) until %s, if it runs with --budget-owner %s\n",
			agent, a.PerDay, cp, a.Expires.UTC().Format(time.DateTime), owner)
		return nil
	}
	// Revoke every version at the address, and by id every authorization of
	// this owner for the agent the relays still hold (the older kind has no
	// address of its own).
	tags := nostr.Tags{{"a", fmt.Sprintf("%d:%s:%s", kind, owner, agent)}, {"k", strconv.Itoa(kind)}}
	kinds := []int{kind}
	if kind != nips.KindLegacySpendingAuthorization {
		kinds = append(kinds, nips.KindLegacySpendingAuthorization)
	}
	evs, qerr := pool.Query(ctx, nostr.Filter{Kinds: kinds, Authors: []string{owner}, Tags: nostr.TagMap{"p": {agent}}})
	legacy := false
	for _, ev := range evs {
		tags = append(tags, nostr.Tag{"e", ev.ID})
		legacy = legacy || ev.Kind == nips.KindLegacySpendingAuthorization
	}
	if legacy {
		tags = append(tags, nostr.Tag{"k", strconv.Itoa(nips.KindLegacySpendingAuthorization)})
	}
	del := nostr.Event{Kind: nostr.KindDeletion, CreatedAt: nostr.Now(), Tags: tags, Content: "spending authorization revoked"}
	if err := del.Sign(sk); err != nil {
		return fmt.Errorf("budget revoke: sign: %w", err)
	}
	if err := pool.Publish(ctx, del); err != nil {
		return fmt.Errorf("budget revoke: publish: %w", err)
	}
	fmt.Fprintf(e.stdout, "deletion %s\n", del.ID)
	if qerr != nil {
		fmt.Fprintf(e.stderr, "agentd: revoked %s's authorizations at their address; the relays did not list them (%v), so older kind-%d ones are not named\n",
			agent, qerr, nips.KindLegacySpendingAuthorization)
		return nil
	}
	fmt.Fprintf(e.stderr, "agentd: revoked the authorizations of %s by %s (%d found on the relays); a running agent stops spending as the deletion arrives\n",
		agent, owner, len(evs))
	return nil
}

// pubkeyArg reads a hex pubkey or an npub.
func pubkeyArg(s string) (string, error) {
	s = strings.TrimSpace(s)
	if nostr.IsValid32ByteHex(s) {
		return strings.ToLower(s), nil
	}
	if prefix, v, err := nip19.Decode(s); err == nil && prefix == "npub" {
		if pk, ok := v.(string); ok {
			return pk, nil
		}
	}
	return "", errors.New("not a pubkey")
}

// readOwnerKey reads the owner's secret key (nsec or 64 hex digits) from
// path, which must not be readable by group or others. The key never
// appears in an error.
func readOwnerKey(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%w --owner-key: %w", ErrOwnerKey, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%w --owner-key %s: mode %04o, want 0600 (chmod 600 %s)", ErrOwnerKey, path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w --owner-key: %w", ErrOwnerKey, err)
	}
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, "nsec1") {
		if prefix, v, err := nip19.Decode(s); err == nil && prefix == "nsec" {
			if sk, ok := v.(string); ok {
				return sk, nil
			}
		}
	} else if nostr.IsValid32ByteHex(s) {
		if _, err := nostr.GetPublicKey(s); err == nil {
			return strings.ToLower(s), nil
		}
	}
	return "", fmt.Errorf("%w --owner-key %s: holds no nsec or 64-hex secret key", ErrOwnerKey, path)
}
