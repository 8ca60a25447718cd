package safebox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/relays"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

func newPool(t *testing.T) *relays.Pool {
	t.Helper()
	p, err := relays.New([]string{relaytest.Start(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func newBox(t *testing.T, p *relays.Pool) (*Box, string) {
	t.Helper()
	sk := nostr.GeneratePrivateKey()
	b, err := New(sk, p)
	if err != nil {
		t.Fatal(err)
	}
	return b, sk
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func TestEntriesAndGrant(t *testing.T) {
	ctx := t.Context()
	p := newPool(t)
	owner, ownerSK := newBox(t, p)
	friend, _ := newBox(t, p)
	stranger, _ := newBox(t, p)

	e1 := Entry{Root: randHex(32), Key: randHex(32), Providers: []string{randHex(32)}, Name: "a.txt", Size: 10}
	e2 := Entry{Root: randHex(32), Key: randHex(32), Providers: []string{randHex(32)}, Name: "b.txt", Size: 20}
	for _, e := range []Entry{e1, e2} {
		if err := owner.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := owner.Put(ctx, Entry{Root: "zz"}); !errors.Is(err, ErrBadEntry) {
		t.Fatalf("bad entry: %v", err)
	}
	// A new machine with the same key sees everything.
	again, err := New(ownerSK, p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := again.Get(ctx, e1.Root)
	if err != nil || got.Key != e1.Key || got.Name != "a.txt" {
		t.Fatalf("get: %+v %v", got, err)
	}
	all, err := again.ListSources(ctx, 0)
	if err != nil || len(all.Entries) != 2 || !all.Entries[0].OnRelays || all.Entries[0].Cached {
		t.Fatalf("list: %+v %v", all, err)
	}
	// Nobody else can read the entries.
	if _, err := friend.Get(ctx, e1.Root); !errors.Is(err, ErrNotFound) {
		t.Fatalf("friend read the owner's box: %v", err)
	}
	// Grant e1 to friend: friend finds e1, not e2; a stranger finds nothing.
	if err := owner.Grant(ctx, e1.Root, friend.Pubkey()); err != nil {
		t.Fatal(err)
	}
	g, err := friend.Find(ctx, e1.Root)
	if err != nil || g.Key != e1.Key || g.From != owner.Pubkey() {
		t.Fatalf("grant: %+v %v", g, err)
	}
	if _, err := friend.Find(ctx, e2.Root); !errors.Is(err, ErrNotFound) {
		t.Fatalf("grant leaked another file: %v", err)
	}
	if _, err := stranger.Find(ctx, e1.Root); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stranger: %v", err)
	}
	if err := owner.Grant(ctx, e1.Root, "not-a-key"); err == nil {
		t.Fatal("grant to a bad key accepted")
	}
}

func TestSocialRecovery(t *testing.T) {
	ctx := t.Context()
	p := newPool(t)
	owner, ownerSK := newBox(t, p)
	var contacts []*Box
	var pubs []string
	for range DefaultShares {
		c, _ := newBox(t, p)
		contacts = append(contacts, c)
		pubs = append(pubs, c.Pubkey())
	}
	if _, err := owner.SplitKey(ctx, pubs[:2], 3); err == nil {
		t.Fatal("split with fewer contacts than k accepted")
	}
	if _, err := owner.SplitKey(ctx, pubs, DefaultThreshold); err != nil {
		t.Fatal(err)
	}
	// The new machine makes a temporary recovery key; three contacts return
	// their shares to it.
	rec, _ := newBox(t, p)
	for _, c := range contacts[:2] {
		if err := c.ReturnShare(ctx, owner.Pubkey(), rec.Pubkey()); err != nil {
			t.Fatal(err)
		}
	}
	got, err := rec.Shares(ctx, owner.Pubkey())
	if err != nil || len(got) != 2 {
		t.Fatalf("shares: %d %v", len(got), err)
	}
	if _, err := Recover(got, owner.Pubkey()); !errors.Is(err, ErrNotEnoughShares) {
		t.Fatalf("2 of 3 shares recovered: %v", err)
	}
	if err := contacts[4].ReturnShare(ctx, owner.Pubkey(), rec.Pubkey()); err != nil {
		t.Fatal(err)
	}
	got, _ = rec.Shares(ctx, owner.Pubkey())
	// A forged share (right shape, wrong bytes) is skipped.
	forged := got[0]
	forged.Data = "09" + randHex(32)
	sk, err := Recover(append([]Share{forged}, got...), owner.Pubkey())
	if err != nil || sk != ownerSK {
		t.Fatalf("recover: %v", err)
	}
	// A contact cannot return a share it does not hold.
	stranger, _ := newBox(t, p)
	if err := stranger.ReturnShare(ctx, owner.Pubkey(), rec.Pubkey()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stranger returned a share: %v", err)
	}
}

// FuzzRecover: shares from relays are untrusted; Recover never panics and
// never returns a key that is not the owner's.
func FuzzRecover(f *testing.F) {
	owner := "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798" // secret key 1
	f.Add("s1", owner, 2, 3, "01"+strings.Repeat("00", 32), "02"+strings.Repeat("11", 32))
	f.Add("", "", 0, 0, "", "")
	f.Fuzz(func(t *testing.T, set, own string, k, n int, a, b string) {
		shares := []Share{{V: 1, Set: set, Owner: own, Threshold: k, Total: n, Data: a}, {V: 1, Set: set, Owner: own, Threshold: k, Total: n, Data: b}}
		sk, err := Recover(shares, own)
		if err != nil {
			return
		}
		if pk, _ := nostr.GetPublicKey(sk); pk != own {
			t.Fatalf("recovered a key of %s for %s", pk, own)
		}
	})
}

func TestDeleteEntry(t *testing.T) {
	ctx := t.Context()
	p := newPool(t)
	owner, _ := newBox(t, p)
	e := Entry{Root: randHex(32), Key: randHex(32), Providers: []string{randHex(32)}}
	if err := owner.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := owner.Delete(ctx, e.Root); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Get(ctx, e.Root); !errors.Is(err, ErrNotFound) {
		t.Fatalf("entry still readable after deletion: %v", err)
	}
}
