package relay_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// TestAuthRelayTag: NIP-42 AUTH is accepted only for a relay tag naming this
// relay: the configured service URL or, without one, the listen address;
// never a name the client sends in Host or X-Forwarded-Host.
func TestAuthRelayTag(t *testing.T) {
	const self = "SELF" // replaced by the relay's ws://127.0.0.1:PORT
	cases := []struct {
		name       string
		serviceURL string
		trusted    []string
		header     map[string]string
		tag        string
		want       bool
	}{
		{"listen address", "", nil, nil, self, true},
		{"listen address with slash", "", nil, nil, self + "/", true},
		{"localhost on the listen port", "", nil, nil, "ws://LOCALHOST:PORT", true},
		{"another relay", "", nil, nil, "wss://relay.example.com", false},
		{"another relay named in Host", "", nil, map[string]string{"Host": "relay.example.com"}, "wss://relay.example.com", false},
		{"another relay named in Host, ws", "", nil, map[string]string{"Host": "relay.example.com"}, "ws://relay.example.com", false},
		{"another relay named by a trusted proxy", "", []string{"127.0.0.0/8"},
			map[string]string{"X-Forwarded-Host": "relay.example.com", "X-Forwarded-Proto": "https"}, "wss://relay.example.com", false},
		{"service URL", "wss://relay.example.com", nil, nil, "wss://Relay.Example.com:443/", true},
		{"listen address with a service URL", "wss://relay.example.com", nil, nil, self, false},
		{"another relay with a service URL", "wss://relay.example.com", nil, map[string]string{"Host": "other.example.com"}, "wss://other.example.com", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := relaytest.New(t, func(c *relay.Config) {
				c.ServiceURL = tc.serviceURL
				c.TrustedProxies = prefixes(t, tc.trusted...)
				c.Auth = relay.AuthWrites
			}, relay.WithAuthChallenge())
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			c, status, body := dialWithHeader(t, srv.URL, h)
			if c == nil {
				t.Fatalf("upgrade refused: %d %s", status, body)
			}
			var challenge string
			if m := c.nextOf("AUTH"); len(m) < 2 || json.Unmarshal(m[1], &challenge) != nil {
				t.Fatalf("bad challenge %s", m)
			}
			port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
			tag := strings.ReplaceAll(strings.ReplaceAll(tc.tag, self, srv.URL), "PORT", port)
			sk := nostr.GeneratePrivateKey()
			ok, reason := c.ok("AUTH", signed(t, sk, nostr.KindClientAuthentication, nostr.Now(), nostr.Tags{{"relay", tag}, {"challenge", challenge}}, ""))
			if ok != tc.want {
				t.Fatalf("AUTH for %q: accepted %v (%q), want %v", tag, ok, reason, tc.want)
			}
			if !ok && !strings.HasPrefix(reason, "invalid: relay tag") {
				t.Fatalf("refusal %q, want invalid: relay tag ...", reason)
			}
			// The connection is authenticated exactly when AUTH was accepted.
			pubOK, pubReason := c.ok("EVENT", signed(t, sk, 1, nostr.Now(), nil, "after auth"))
			if pubOK != tc.want {
				t.Fatalf("publish after AUTH: %v %q, want accepted=%v", pubOK, pubReason, tc.want)
			}
		})
	}
}
