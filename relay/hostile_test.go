package relay_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/bench/attack"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// attackerIP is where the attacks come from; honest clients connect from
// 127.0.0.1, so per-IP limits on the attackers leave them alone.
var attackerIP = net.IPv4(127, 0, 0, 2)

// TestHostileClients runs every attack of issue 11 against a real relay on
// 127.0.0.1 while an honest client publishes and queries, and asserts that
// the relay lives, refuses with the NIP-01 prefix, keeps serving the honest
// client, and keeps its memory bounded.
func TestHostileClients(t *testing.T) {
	tests := []struct {
		attack    string
		rounds    int
		configure func(*relay.Config)
		// prefill events are stored before the attack starts.
		prefill int
		// honestBig makes the honest client publish large events (fills
		// the buffers of readers that never read).
		honestBig bool
		// honestOps is how many publishes and queries the honest client
		// makes (default 40; fewer where the row's per-IP limits are tight,
		// which apply to the honest client's own address too).
		honestOps int
		want      []string // labels the relay must have answered
		forbid    []string // labels it must never answer
		metric    string   // a /metrics line that must be non-zero afterwards
	}{
		{attack: "parse-crash", rounds: 5, want: []string{"EOSE"}},
		{attack: "limit-zero", rounds: 30, configure: func(c *relay.Config) { c.Auth = relay.AuthAll },
			want: []string{"CLOSED auth-required"}, forbid: []string{"EOSE"}},
		{attack: "limit-zero", rounds: 30, configure: func(c *relay.Config) { c.MaxSubscriptions = 5 },
			want: []string{"CLOSED blocked"}},
		{attack: "filters-over-limit", rounds: 3, want: []string{"CLOSED invalid", "OK true"},
			forbid: []string{"EVENT after CLOSED"}},
		{attack: "non-reader", rounds: 16, honestBig: true, honestOps: 60,
			configure: func(c *relay.Config) {
				c.MaxMessageLength, c.SendQueueBytes, c.WriteTimeout = 128<<10, 256<<10, time.Second
			},
			metric: `sovmesh_connections_dropped_total{reason="slow_consumer"}`},
		{attack: "auth-other-relay", rounds: 3, configure: func(c *relay.Config) { c.Auth = relay.AuthAll },
			want: []string{"OK false invalid"}, forbid: []string{"OK true"}},
		{attack: "xff-spoof", rounds: 20, configure: func(c *relay.Config) { c.IPEventRate, c.IPEventBurst = 5, 10 }, honestOps: 8,
			want: []string{"OK false rate-limited"}},
		{attack: "fragment-hold", rounds: 50, configure: func(c *relay.Config) { c.MessageTimeout = time.Second },
			want: []string{"closed by relay"}},
		{attack: "conn-flood", rounds: 40, configure: func(c *relay.Config) { c.IPMaxConnections = 20 },
			want: []string{"upgrade 429", "connected"}},
		{attack: "neg-open-flood", rounds: 5, prefill: 300, configure: func(c *relay.Config) { c.NegMaxRecords = 100 },
			want: []string{"NEG-ERR blocked"}, forbid: []string{"NEG-MSG"}},
		{attack: "count-flood", rounds: 60, configure: func(c *relay.Config) { c.IPReqRate, c.IPReqBurst = 5, 10 }, honestOps: 8,
			want: []string{"COUNT", "CLOSED rate-limited"}},
		{attack: "negative-kind", rounds: 3, want: []string{"OK false invalid"}, forbid: []string{"OK true"}},
		{attack: "bad-utf8", rounds: 3, forbid: []string{"EOSE"}},
	}
	for _, tc := range tests {
		name := tc.attack
		if tc.configure != nil && tc.attack == "limit-zero" && tc.want[0] == "CLOSED blocked" {
			name += "/max-subscriptions"
		}
		t.Run(name, func(t *testing.T) {
			a, ok := attack.ByName(tc.attack)
			if !ok {
				t.Fatalf("no attack %q", tc.attack)
			}
			srv := relaytest.New(t, tc.configure)
			honest, err := nostr.RelayConnect(t.Context(), srv.URL)
			if err != nil {
				t.Fatalf("honest connect: %v", err)
			}
			defer honest.Close()
			sk := nostr.GeneratePrivateKey()
			if srv.Config.Auth == relay.AuthAll {
				// The first REQ makes the relay send its challenge.
				qctx, qcancel := context.WithTimeout(t.Context(), 5*time.Second)
				_, _ = honest.QuerySync(qctx, nostr.Filter{Kinds: []int{1}, Limit: 1})
				qcancel()
				authenticate(t, honest, sk)
			}
			for i := range tc.prefill {
				publishHonest(t, honest, sk, fmt.Sprintf("prefill %d", i), 0)
			}
			heapBefore := heapInUse()

			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var tally attack.Tally
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := a.Run(ctx, attack.Target{URL: srv.URL, From: attackerIP}, tc.rounds, &tally); err != nil {
					t.Errorf("attack: %v", err)
				}
			}()

			// The honest client publishes and queries while the attack runs;
			// every OK and every EOSE must come, each within its deadline.
			var peak uint64
			size := 0
			if tc.honestBig {
				size = 60 << 10
			}
			ops := tc.honestOps
			if ops == 0 {
				ops = 40
			}
			for i := range ops {
				publishHonest(t, honest, sk, fmt.Sprintf("honest %d", i), size)
				queryHonest(t, honest, sk)
				if h := heapInUse(); h > peak {
					peak = h
				}
			}
			if tc.attack == "non-reader" || tc.attack == "conn-flood" {
				cancel() // these hold their connections until told to stop
			}
			wg.Wait()
			cancel()

			t.Logf("relay answered: %s", tally.String())
			for _, w := range tc.want {
				if tally.Get(w) == 0 {
					t.Errorf("relay never answered %q; answers: %s", w, tally.String())
				}
			}
			for _, f := range tc.forbid {
				if n := tally.Get(f); n > 0 {
					t.Errorf("relay answered %q %d times; answers: %s", f, n, tally.String())
				}
			}
			for _, l := range []string{"unparsable", "OK false (no prefix)", "CLOSED (no prefix)", "NEG-ERR (no prefix)"} {
				if n := tally.Get(l); n > 0 {
					t.Errorf("%d answers %q; answers: %s", n, l, tally.String())
				}
			}
			if tc.metric != "" {
				if v := metric(t, srv.HTTP, tc.metric); v <= 0 {
					t.Errorf("metric %s is %v", tc.metric, v)
				}
			}
			if v := metric(t, srv.HTTP, "sovmesh_panics_total"); v != 0 {
				t.Errorf("sovmesh_panics_total %v", v)
			}
			// The relay still serves after the attack.
			publishHonest(t, honest, sk, "after", 0)
			queryHonest(t, honest, sk)
			if grow := int64(peak) - int64(heapBefore); grow > 256<<20 {
				t.Errorf("heap grew by %d MiB during the attack", grow>>20)
			}
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func publishHonest(t *testing.T, r *nostr.Relay, sk, content string, size int) {
	t.Helper()
	if size > 0 {
		content += " " + strings.Repeat("x", size)
	}
	evt := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: content, Tags: nostr.Tags{{"t", "honest"}}}
	if err := evt.Sign(sk); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := r.Publish(ctx, evt); err != nil {
		t.Fatalf("honest publish %q: %v", content[:min(len(content), 20)], err)
	}
}

func queryHonest(t *testing.T, r *nostr.Relay, sk string) {
	t.Helper()
	pk, _ := nostr.GetPublicKey(sk)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	sub, err := r.Subscribe(ctx, nostr.Filters{{Authors: []string{pk}, Tags: nostr.TagMap{"t": {"honest"}}, Limit: 5}})
	if err != nil {
		t.Fatalf("honest REQ: %v", err)
	}
	defer sub.Unsub()
	for {
		select {
		case <-sub.EndOfStoredEvents:
			return
		case reason := <-sub.ClosedReason:
			t.Fatalf("honest REQ closed: %s", reason)
		case <-sub.Events:
		case <-ctx.Done():
			t.Fatalf("honest REQ: no EOSE within 5 s")
		}
	}
}
