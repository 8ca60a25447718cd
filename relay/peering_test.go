package relay_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// storedIDs returns the ids of the events of kind stored at s.
func storedIDs(t *testing.T, s *relaytest.Server, kind int) map[string]bool {
	t.Helper()
	ch, err := s.Store().QueryEvents(t.Context(), nostr.Filter{Kinds: []int{kind}})
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	out := map[string]bool{}
	for evt := range ch {
		out[evt.ID] = true
	}
	return out
}

// TestPeeringLine: three relays in a line, A -> B -> C (each names the next
// in --peers), converge on what each stored before and after they met, and
// pass new events live both ways; kinds outside --peer-kinds stay home.
func TestPeeringLine(t *testing.T) {
	peersOf := func(url string) func(*relay.Config) {
		return func(c *relay.Config) {
			c.Peers, c.PeerKinds = []string{url}, []int{1, 5}
			c.PeerInterval = time.Hour // reconciliation on connect only
		}
	}
	sk := nostr.GeneratePrivateKey()
	n := 0
	publish := func(s *relaytest.Server, kind int) string {
		t.Helper()
		n++
		evt := signed(t, sk, kind, nostr.Now()-nostr.Timestamp(n), nil, fmt.Sprint("peering ", n))
		if err := s.Publish(t.Context(), evt); err != nil {
			t.Fatalf("publish: %v", err)
		}
		return evt.ID
	}

	c := relaytest.New(t, nil)
	var before []string
	for range 3 {
		before = append(before, publish(c, 1)) // stored before anyone peers
	}
	b := relaytest.New(t, peersOf(c.URL))
	before = append(before, publish(b, 1))
	a := relaytest.New(t, peersOf(b.URL))
	before = append(before, publish(a, 1))

	all := map[string]*relaytest.Server{"A": a, "B": b, "C": c}
	has := func(id string, names ...string) func() bool {
		return func() bool {
			for _, name := range names {
				if !storedIDs(t, all[name], 1)[id] {
					return false
				}
			}
			return true
		}
	}
	for _, id := range before {
		waitFor(t, 20*time.Second, "events stored before peering on all three relays", has(id, "A", "B", "C"))
	}

	// Live, both ways across the line; a kind-7 event published first at
	// A must not follow the kind-1 event that passes it.
	private := publish(a, 7)
	id := publish(a, 1)
	waitFor(t, 20*time.Second, "an event published at A, at C", has(id, "C"))
	atA := id
	if storedIDs(t, b, 7)[private] || storedIDs(t, c, 7)[private] {
		t.Fatal("an event of a kind outside --peer-kinds reached a peer")
	}
	id = publish(c, 1)
	waitFor(t, 20*time.Second, "an event published at C, at A", has(id, "A", "B"))

	// A NIP-09 deletion published at A deletes the event at C too.
	del := signed(t, sk, 5, nostr.Now(), nostr.Tags{{"e", atA}}, "")
	if err := a.Publish(t.Context(), del); err != nil {
		t.Fatalf("publish deletion: %v", err)
	}
	waitFor(t, 20*time.Second, "a deletion published at A, applied at C", func() bool {
		return !storedIDs(t, a, 1)[atA] && !storedIDs(t, c, 1)[atA]
	})

	if ps := a.Peers(); len(ps) != 1 || ps[0].URL != b.URL || !ps[0].Connected || ps[0].LastSync == 0 || ps[0].In == 0 || ps[0].Out == 0 {
		t.Errorf("A's peers: %+v, want B connected, synced, events both ways", ps)
	}
	if v := metric(t, a.HTTP, `sovmesh_peer_connected{peer="`+b.URL+`"}`); v != 1 {
		t.Errorf("A's sovmesh_peer_connected for B = %v, want 1", v)
	}
	if v := metric(t, a.HTTP, `sovmesh_peer_last_sync_timestamp_seconds{peer="`+b.URL+`"}`); v <= 0 {
		t.Errorf("A's last sync with B = %v, want a time", v)
	}
}

func TestPeerConfig(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*relay.Config)
		field string // named in the error; "" for valid
	}{
		{"no peers", func(c *relay.Config) {}, ""},
		{"a peer and kinds", func(c *relay.Config) { c.Peers, c.PeerKinds = []string{"wss://relay.example.com"}, []int{1} }, ""},
		{"http peer", func(c *relay.Config) { c.Peers, c.PeerKinds = []string{"https://relay.example.com"}, []int{1} }, "peers"},
		{"no kinds", func(c *relay.Config) { c.Peers = []string{"ws://127.0.0.1:1"} }, "peer-kinds"},
		{"bad kind", func(c *relay.Config) { c.Peers, c.PeerKinds = []string{"ws://127.0.0.1:1"}, []int{70000} }, "peer-kinds"},
		{"zero interval", func(c *relay.Config) { c.PeerInterval = 0 }, "peer-interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := relay.DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate: %v, want an error naming %s", err, tc.field)
			}
		})
	}
}
