package relay_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// TestRateLimitedPause: a message refused "rate-limited:" pauses its
// connection, so the client's next message is answered no sooner than the
// pause (--rate-limited-pause, here shorter than the limit's refill); each
// pause is counted. Upstream khatru and the relay before it answered at
// once, and a client looping on its refusals went as fast as it could send.
func TestRateLimitedPause(t *testing.T) {
	const pause = 300 * time.Millisecond
	sk := nostr.GeneratePrivateKey()
	cases := []struct {
		name string
		cfg  func(*relay.Config)
		// over sends on c what the limit refuses, the first time within
		// the burst; it returns the refusal's reason.
		over func(t *testing.T, c *rawClient, i int) string
	}{
		{"REQ over the REQ rate", func(c *relay.Config) { c.IPReqRate, c.IPReqBurst = 1, 1 },
			func(t *testing.T, c *rawClient, i int) string {
				id := "s" + string(rune('a'+i))
				c.sendJSON("REQ", id, nostr.Filter{Kinds: []int{1}})
				m, _ := c.until("", id)
				if str(m[0]) == "EOSE" {
					return ""
				}
				return str(m[2])
			}},
		{"EVENT over the event rate", func(c *relay.Config) { c.IPEventRate, c.IPEventBurst = 1, 1 },
			func(t *testing.T, c *rawClient, i int) string {
				_, reason := c.ok("EVENT", signed(t, sk, 1, nostr.Now(), nil, "paced "+string(rune('a'+i))))
				return reason
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := relaytest.New(t, func(c *relay.Config) {
				tc.cfg(c)
				c.RateLimitedPause = pause
			})
			c := dialRaw(t, srv.URL)
			if reason := tc.over(t, c, 0); strings.HasPrefix(reason, "rate-limited:") {
				t.Fatalf("refused within the burst: %s", reason)
			}
			start := time.Now()
			if reason := tc.over(t, c, 1); !strings.HasPrefix(reason, "rate-limited:") {
				t.Fatalf("over the limit: %q, want rate-limited:", reason)
			}
			tc.over(t, c, 2)
			if took := time.Since(start); took < pause {
				t.Fatalf("the message after a refusal was answered %v after it, within the pause of %v", took, pause)
			}
			if n := metric(t, srv.HTTP, `sovmesh_rate_limited_paused_total{what="message"}`); n < 1 {
				t.Fatalf("paused messages counted %v, want at least 1", n)
			}
		})
	}
}
