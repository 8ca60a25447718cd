package budget_test

import (
	"errors"
	"fmt"
	"strings"
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
	ownerPub, _ := nostr.GetPublicKey(ownerSK)
	agentKey := paytest.NewKey(t)
	agentPub, _ := nostr.GetPublicKey(agentKey)
	dir := t.TempDir()
	j := paytest.OpenJournal(t, dir)
	guard := budget.NewGuard(j, agentPub, authKind, []string{ownerPub})
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
	if n, err := guard.Revoke(ctx, del); n != 0 || !errors.Is(err, budget.ErrInvalidRevok) {
		t.Fatalf("stranger's revocation: %d %v", n, err)
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

// TestOwners: only the guard's owners may authorize or revoke, the agent
// may not authorize itself, and a stored authorization stops counting once
// its owner is no longer configured.
func TestOwners(t *testing.T) {
	keys := map[string]string{} // role -> secret key
	for _, role := range []string{"owner", "owner2", "stranger", "agent"} {
		keys[role] = nostr.GeneratePrivateKey()
	}
	pub := func(role string) string {
		t.Helper()
		pk, err := nostr.GetPublicKey(keys[role])
		if err != nil {
			t.Fatal(err)
		}
		return pk
	}
	pubs := func(roles ...string) []string {
		var out []string
		for _, r := range roles {
			out = append(out, pub(r))
		}
		return out
	}
	tests := []struct {
		name    string
		owners  []string // roles the guard trusts
		signer  string   // role that signs the authorization
		addErr  error
		addMsg  string // in the Add error
		revoker string // role that signs a deletion of it ("": none)
		revErr  error
		revMsg  string   // in the Revoke error
		later   []string // roles configured afterwards (nil: unchanged)
		want    error    // from Reserve at the end
	}{
		{name: "owner's authorization", owners: []string{"owner"}, signer: "owner"},
		{name: "second owner's authorization", owners: []string{"owner", "owner2"}, signer: "owner2"},
		{name: "stranger's authorization refused", owners: []string{"owner"}, signer: "stranger",
			addErr: budget.ErrInvalidAuth, addMsg: "not an owner", want: budget.ErrNoBudget},
		{name: "agent's own authorization refused", owners: []string{"owner"}, signer: "agent",
			addErr: budget.ErrInvalidAuth, addMsg: "agent itself", want: budget.ErrNoBudget},
		{name: "agent listed as its own owner still refused", owners: []string{"owner", "agent"}, signer: "agent",
			addErr: budget.ErrInvalidAuth, addMsg: "agent itself", want: budget.ErrNoBudget},
		{name: "no owner configured", owners: nil, signer: "owner",
			addErr: budget.ErrInvalidAuth, addMsg: "not an owner", want: budget.ErrNoBudget},
		{name: "owner's revocation", owners: []string{"owner"}, signer: "owner", revoker: "owner", want: budget.ErrNoBudget},
		{name: "stranger's revocation refused", owners: []string{"owner"}, signer: "owner",
			revoker: "stranger", revErr: budget.ErrInvalidRevok, revMsg: "not an owner"},
		{name: "agent's revocation refused", owners: []string{"owner"}, signer: "owner",
			revoker: "agent", revErr: budget.ErrInvalidRevok, revMsg: "agent itself"},
		{name: "other owner cannot revoke", owners: []string{"owner", "owner2"}, signer: "owner", revoker: "owner2"},
		{name: "removed owner's stored authorization unused", owners: []string{"owner"}, signer: "owner",
			later: []string{"owner2"}, want: budget.ErrNoBudget},
		{name: "remaining owner's stored authorization kept", owners: []string{"owner", "owner2"}, signer: "owner",
			later: []string{"owner"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			j := paytest.OpenJournal(t, t.TempDir())
			agent := pub("agent")
			guard := budget.NewGuard(j, agent, authKind, pubs(tc.owners...))
			ev, err := budget.Sign(keys[tc.signer], authKind, budget.Authorization{Agent: agent, PerDay: 100, Expires: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = guard.Add(ctx, ev)
			checkErr(t, "add", err, tc.addErr, tc.addMsg)
			if tc.revoker != "" {
				del := &nostr.Event{Kind: nostr.KindDeletion, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"e", ev.ID}}}
				if err := del.Sign(keys[tc.revoker]); err != nil {
					t.Fatal(err)
				}
				_, err := guard.Revoke(ctx, del)
				checkErr(t, "revoke", err, tc.revErr, tc.revMsg)
			}
			if tc.later != nil {
				guard = budget.NewGuard(j, agent, authKind, pubs(tc.later...))
			}
			done, err := guard.Reserve(ctx, "alice", 10)
			if !errors.Is(err, tc.want) {
				t.Fatalf("reserve: %v, want %v", err, tc.want)
			}
			if done != nil {
				if err := done(ctx, false); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// checkErr fails unless err is want (nil: no error) and, when it is an
// error, its message contains msg.
func checkErr(t *testing.T, what string, err, want error, msg string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
	if err != nil && !strings.Contains(err.Error(), msg) {
		t.Fatalf("%s: %q does not say %q", what, err, msg)
	}
}

// TestRevokeByAddress: a NIP-09 deletion with an "a" tag revokes the
// owner's authorizations at that address signed up to the deletion, and
// nothing else; older authorizations of another kind are still read.
func TestRevokeByAddress(t *testing.T) {
	const legacyKind = 30078
	ownerSK := nostr.GeneratePrivateKey()
	owner, _ := nostr.GetPublicKey(ownerSK)
	agent, _ := nostr.GetPublicKey(nostr.GeneratePrivateKey())
	now := nostr.Now()
	tests := []struct {
		name    string
		kind    int             // of the authorization
		noD     bool            // signed without a d tag (the older form)
		signer  string          // of the deletion
		coord   string          // "a" tag; "" = "<kind>:<owner>:<agent>"
		at      nostr.Timestamp // deletion's created_at
		revoked int
	}{
		{name: "owner's address deletion", kind: 38465, at: now, revoked: 1},
		{name: "deletion older than the authorization", kind: 38465, at: now - 100, revoked: 0},
		{name: "another owner's address", kind: 38465, coord: "38465:" + strings.Repeat("b", 64) + ":" + agent, at: now, revoked: 0},
		{name: "another agent's address", kind: 38465, coord: "38465:" + owner + ":" + strings.Repeat("c", 64), at: now, revoked: 0},
		{name: "kind the guard does not read", kind: 38465, coord: "30000:" + owner + ":" + agent, at: now, revoked: 0},
		{name: "older form, empty d", kind: legacyKind, noD: true, coord: "30078:" + owner + ":", at: now, revoked: 1},
		{name: "malformed address", kind: 38465, coord: "38465", at: now, revoked: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			guard := budget.NewGuard(paytest.OpenJournal(t, t.TempDir()), agent, 38465, []string{owner}, legacyKind)
			ev, err := budget.Sign(ownerSK, tc.kind, budget.Authorization{Agent: agent, PerDay: 100, Expires: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if tc.noD {
				ev.Tags = ev.Tags[1:]
			}
			ev.CreatedAt = now - 10
			if err := ev.Sign(ownerSK); err != nil {
				t.Fatal(err)
			}
			if _, err := guard.Add(ctx, ev); err != nil {
				t.Fatal(err)
			}
			coord := tc.coord
			if coord == "" {
				coord = fmt.Sprintf("%d:%s:%s", tc.kind, owner, agent)
			}
			del := &nostr.Event{Kind: nostr.KindDeletion, CreatedAt: tc.at, Tags: nostr.Tags{{"a", coord}}}
			if err := del.Sign(ownerSK); err != nil {
				t.Fatal(err)
			}
			n, err := guard.Revoke(ctx, del)
			if err != nil || n != tc.revoked {
				t.Fatalf("revoke: %d %v, want %d", n, err, tc.revoked)
			}
			done, err := guard.Reserve(ctx, "alice", 10)
			if tc.revoked > 0 {
				if !errors.Is(err, budget.ErrNoBudget) {
					t.Fatalf("after revocation: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("not revoked, yet: %v", err)
			}
			_ = done(ctx, false)
		})
	}
}
