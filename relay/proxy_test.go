package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// rawConn is a bare websocket client that can send any header.
type rawConn struct {
	t  *testing.T
	ws *websocket.Conn
}

// dialRaw opens a websocket to url with header; on a refused upgrade it
// returns the HTTP status and body instead.
func dialWithHeader(t *testing.T, url string, header http.Header) (*rawConn, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, url, header)
	if err != nil {
		if errors.Is(err, websocket.ErrBadHandshake) && resp != nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return nil, resp.StatusCode, string(body)
		}
		t.Fatalf("dial %s: %v", url, err)
	}
	c := &rawConn{t: t, ws: ws}
	t.Cleanup(func() { ws.Close() })
	return c, http.StatusSwitchingProtocols, ""
}

func (c *rawConn) send(v ...any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next message of type typ.
func (c *rawConn) next(typ string) []json.RawMessage {
	c.t.Helper()
	for range 100 {
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", typ, err)
		}
		var msg []json.RawMessage
		if json.Unmarshal(b, &msg) != nil || len(msg) == 0 {
			continue
		}
		var got string
		_ = json.Unmarshal(msg[0], &got)
		if got == typ {
			return msg
		}
	}
	c.t.Fatalf("no %s in 100 messages", typ)
	return nil
}

// ok sends an EVENT or AUTH message with evt and returns its OK.
func (c *rawConn) ok(verb string, evt *nostr.Event) (bool, string) {
	c.t.Helper()
	c.send(verb, evt)
	m := c.next("OK")
	var accepted bool
	var reason string
	if len(m) < 4 || json.Unmarshal(m[2], &accepted) != nil || json.Unmarshal(m[3], &reason) != nil {
		c.t.Fatalf("bad OK %s", m)
	}
	return accepted, reason
}

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
