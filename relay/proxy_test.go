package relay_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

func prefixes(t *testing.T, cidrs ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, c := range cidrs {
		out = append(out, netip.MustParsePrefix(c))
	}
	return out
}

// TestForwardedForTrust: X-Forwarded-For counts only from a trusted proxy,
// and then its rightmost entry that is not a trusted proxy is the client.
// Each client IP may publish one event (burst 1, no refill during the test);
// each step is a new connection with its own header.
func TestForwardedForTrust(t *testing.T) {
	type step struct {
		xff  string // "" sends none
		want bool   // accepted (else rate-limited)
	}
	cases := []struct {
		name    string
		trusted []string
		steps   []step
	}{
		{"untrusted peer: spoofed entries ignored", nil, []step{
			{"203.0.113.1", true},
			{"203.0.113.2", false},
			{"203.0.113.3, 203.0.113.4", false},
			{"", false},
		}},
		{"trusted proxy: rightmost untrusted entry is the client", []string{"127.0.0.0/8"}, []step{
			{"198.51.100.7, 203.0.113.1", true},
			{"203.0.113.1", false},                         // same client, no spoofed prefix
			{"203.0.113.99, 203.0.113.1", false},           // client-written leftmost entry proves nothing
			{"203.0.113.2", true},                          // another client
			{"203.0.113.3, 127.0.0.5", true},               // a second trusted proxy in the chain is skipped
			{"203.0.113.9, 203.0.113.3, 127.0.0.5", false}, // same client behind that chain
			{"", true},                     // the proxy's own request counts as the proxy
			{"not-an-ip, 127.0.0.6", true}, // an entry that does not parse: the proxy that appended it stands for the client
			{"junk, 127.0.0.6", false},     // ... so such requests share that proxy's key
		}},
		{"trusted network does not include the peer", []string{"10.0.0.0/8"}, []step{
			{"203.0.113.1", true},
			{"203.0.113.2", false},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := relaytest.New(t, func(c *relay.Config) {
				c.IPEventRate, c.IPEventBurst = 0.0001, 1
				c.TrustedProxies = prefixes(t, tc.trusted...)
			})
			sk := nostr.GeneratePrivateKey()
			for i, st := range tc.steps {
				h := http.Header{}
				if st.xff != "" {
					h.Set("X-Forwarded-For", st.xff)
				}
				c, status, body := dialWithHeader(t, srv.URL, h)
				if c == nil {
					t.Fatalf("step %d: upgrade refused %d %s", i, status, body)
				}
				ok, reason := c.ok("EVENT", signed(t, sk, 1, nostr.Now(), nil, "step "+st.xff))
				if ok != st.want {
					t.Fatalf("step %d (X-Forwarded-For %q): accepted %v (%q), want %v", i, st.xff, ok, reason, st.want)
				}
				if !ok && !strings.HasPrefix(reason, "rate-limited:") {
					t.Fatalf("step %d: refused %q, want rate-limited:", i, reason)
				}
			}
		})
	}
}
