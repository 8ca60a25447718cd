package provider_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// runProvider runs p until the test ends, once it is ready.
func runProvider(t *testing.T, p *provider.Provider) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	var runErr error
	go func() { defer close(ended); runErr = p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-ended
		if runErr != nil {
			t.Errorf("provider run: %v", runErr)
		}
	})
	waitReady(t, p, ended)
}

// waitReady waits until p, run by a goroutine that closes ended when Run
// returns, is ready (offers, listings and beacon published, bids
// answered).
func waitReady(t *testing.T, p *provider.Provider, ended <-chan struct{}) {
	t.Helper()
	select {
	case <-p.Ready():
	case <-ended:
		t.Fatal("provider stopped before it was ready")
	case <-time.After(60 * time.Second):
		t.Fatal("provider not ready after 60 s")
	}
}

// presence returns the one presence beacon of pubkey on the relay, parsed.
func presence(t *testing.T, nd *agentd.Node, pubkey string) (nips.Presence, *nostr.Event) {
	t.Helper()
	evs, err := nd.Relays.Query(t.Context(), nostr.Filter{Kinds: []int{nips.KindPresence}, Authors: []string{pubkey}})
	if err != nil {
		t.Fatalf("query presence: %v", err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d presence beacons of the provider on the relay, want 1 (the kind is replaceable)", len(evs))
	}
	b, err := nips.ParsePresence(evs[0])
	if err != nil {
		t.Fatalf("beacon does not parse: %v", err)
	}
	return b, evs[0]
}

// TestPresenceBeacon: a running provider's presence beacon reaches the
// relay, signed by its key, naming what it sells, its load, its tier and
// geohash, the endpoints its host listens on (which reach it), and an
// expiration a few presence intervals ahead.
func TestPresenceBeacon(t *testing.T) {
	net := agentdtest.Start(t)
	llm := agentdtest.StartLLM(t, "standin-1", []string{"hi"}, time.Millisecond)
	storage := &provider.StorageConfig{Quota: 1 << 30, PriceMsat: 2_000_000}
	bandwidth := &provider.BandwidthConfig{PriceMsat: 1000, MaxConns: 4}
	inference := &provider.InferenceConfig{URL: llm.URL, PriceInMsat: 1_000_000, PriceOutMsat: 2_000_000, MaxConcurrent: 4}
	cases := []struct {
		name     string
		cfg      provider.Config
		active   map[nips.Resource]int // SetLoad before Run
		wantCaps []nips.Resource
		wantLoad uint64
		wantTier nips.Tier
	}{
		{name: "idle storage and bandwidth", cfg: provider.Config{Storage: storage, Bandwidth: bandwidth},
			wantCaps: []nips.Resource{nips.Bandwidth, nips.Storage}, wantLoad: 0, wantTier: nips.TierBranch},
		{name: "bandwidth half loaded", cfg: provider.Config{Bandwidth: bandwidth, Tier: nips.TierLeaf, Geohash: "u0yjj"},
			active: map[nips.Resource]int{nips.Bandwidth: 2}, wantCaps: []nips.Resource{nips.Bandwidth}, wantLoad: 50, wantTier: nips.TierLeaf},
		{name: "busiest resource sets the load", cfg: provider.Config{Storage: storage, Inference: inference, Tier: nips.TierRoot},
			active: map[nips.Resource]int{nips.Inference: 3}, wantCaps: []nips.Resource{nips.Storage, nips.Inference}, wantLoad: 75, wantTier: nips.TierRoot},
		{name: "full", cfg: provider.Config{Bandwidth: bandwidth, Inference: inference},
			active: map[nips.Resource]int{nips.Bandwidth: 9, nips.Inference: 1}, wantCaps: []nips.Resource{nips.Bandwidth, nips.Inference}, wantLoad: 100, wantTier: nips.TierBranch},
	}
	// A client node checks that the endpoints reach the provider.
	client := net.Node(t, "client", 0)
	if err := client.StartHost(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			nd := net.Node(t, "p"+string(rune('a'+i)), 0)
			p, err := provider.New(nd, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for r, n := range tc.active {
				p.SetLoad(r, n)
			}
			started := time.Now()
			runProvider(t, p)
			b, ev := presence(t, nd, nd.Key.Pubkey)

			if ok, err := ev.CheckSignature(); !ok || err != nil {
				t.Fatalf("beacon signature: %v %v", ok, err)
			}
			if b.Pubkey != nd.Key.Pubkey {
				t.Fatalf("beacon by %s, want the provider %s", b.Pubkey, nd.Key.Pubkey)
			}
			if !slices.Equal(b.Capabilities, tc.wantCaps) {
				t.Fatalf("capabilities %v, want %v", b.Capabilities, tc.wantCaps)
			}
			if b.Load != tc.wantLoad {
				t.Fatalf("load %d, want %d", b.Load, tc.wantLoad)
			}
			if b.Tier != tc.wantTier || b.Geohash != tc.cfg.Geohash {
				t.Fatalf("tier %q geohash %q, want %q %q", b.Tier, b.Geohash, tc.wantTier, tc.cfg.Geohash)
			}
			if up := time.Duration(b.Uptime) * time.Second; up > time.Since(started)+time.Second {
				t.Fatalf("uptime %v, but the provider started %v ago", up, time.Since(started))
			}

			// Expiration: in the future, PresenceTTL of the interval for the
			// few beacons on this relay (the minimum interval).
			now := time.Now().Unix()
			if int64(b.Expiration) <= now {
				t.Fatalf("beacon expired at %d, now %d", b.Expiration, now)
			}
			ttl := int64(nips.PresenceTTL(nips.MinPresenceInterval) / time.Second)
			if d := int64(b.Expiration) - int64(b.CreatedAt); d < ttl-1 || d > ttl+1 {
				t.Fatalf("expiration %d s after created_at, want about %d", d, ttl)
			}

			// Endpoints: the host's own listen addresses, the same the
			// offers carry, and they reach the provider.
			if len(b.Endpoints) == 0 {
				t.Fatal("beacon has no endpoint")
			}
			var hostAddrs []string
			for _, a := range nd.Host.Addrs() {
				hostAddrs = append(hostAddrs, a.String())
			}
			addrs := make([]ma.Multiaddr, 0, len(b.Endpoints))
			for _, e := range b.Endpoints {
				if !slices.Contains(hostAddrs, e) {
					t.Fatalf("endpoint %s is not one of the host's addresses %v", e, hostAddrs)
				}
				if strings.Contains(e, "/p2p/") {
					t.Fatalf("endpoint %s names a peer", e)
				}
				a, err := ma.NewMultiaddr(e)
				if err != nil {
					t.Fatalf("endpoint %s: %v", e, err)
				}
				addrs = append(addrs, a)
			}
			for _, r := range tc.wantCaps {
				o, ok := p.Offer(r)
				if !ok {
					t.Fatalf("no %s offer", r)
				}
				if !slices.Equal(o.Endpoints, b.Endpoints) {
					t.Fatalf("%s offer endpoints %v, beacon %v", r, o.Endpoints, b.Endpoints)
				}
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			pid, err := client.Host.Connect(cctx, b.Pubkey, addrs)
			if err != nil {
				t.Fatalf("the beacon's endpoints do not reach the provider: %v", err)
			}
			if want, _ := transport.PeerIDFromNostrPubkey(nd.Key.Pubkey); pid != want || pid != nd.Host.ID() {
				t.Fatalf("connected to %s, want the provider's host %s", pid, nd.Host.ID())
			}
		})
	}
}
