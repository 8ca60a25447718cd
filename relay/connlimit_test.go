package relay_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// refusedMetric reads sovmesh_connections_refused_total{reason} from /metrics.
func refusedMetric(t *testing.T, srv *relaytest.Server, reason string) string {
	t.Helper()
	resp, err := http.Get(srv.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	prefix := fmt.Sprintf("sovmesh_connections_refused_total{reason=%q} ", reason)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v
		}
	}
	return "0"
}

// dialUntilOpen retries an upgrade until the relay has released a closed
// connection's slot (bounded: the release follows the close at once, but
// the relay sees the close asynchronously).
func dialUntilOpen(t *testing.T, url string, h http.Header) *rawClient {
	t.Helper()
	for range 250 {
		if c, _, _ := dialWithHeader(t, url, h); c != nil {
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no slot freed for %v", h)
	return nil
}

func from(ip string) http.Header {
	h := http.Header{}
	if ip != "" {
		h.Set("X-Forwarded-For", ip)
	}
	return h
}

// TestConnectionCaps: the upgrade over the per-IP or total cap is refused
// with a status and a body naming the limit, counted in the metric, and a
// closed connection gives its slot back.
func TestConnectionCaps(t *testing.T) {
	cases := []struct {
		name         string
		perIP, total int
		open         []string // X-Forwarded-For of the connections that fill the cap
		next         string   // the refused one
		status       int
		body, reason string
	}{
		{"per IP", 2, 0, []string{"", ""}, "", http.StatusTooManyRequests, "2 connections are already open from your address", "ip_limit"},
		{"per IP, other clients unaffected", 2, 0, []string{"203.0.113.1", "203.0.113.1", "203.0.113.2"}, "203.0.113.1", http.StatusTooManyRequests, "2 connections", "ip_limit"},
		{"IPv6 counts by /64", 2, 0, []string{"2001:db8::1", "2001:db8::2"}, "2001:db8::3", http.StatusTooManyRequests, "2 connections", "ip_limit"},
		{"total", 2, 3, []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"}, "203.0.113.4", http.StatusServiceUnavailable, "limit of 3 connections", "total_limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := relaytest.New(t, func(c *relay.Config) {
				c.IPMaxConnections, c.MaxConnections = tc.perIP, tc.total
				c.TrustedProxies = prefixes(t, "127.0.0.0/8")
			})
			var conns []*rawClient
			for i, ip := range tc.open {
				c, status, body := dialWithHeader(t, srv.URL, from(ip))
				if c == nil {
					t.Fatalf("connection %d refused under the cap: %d %s", i, status, body)
				}
				conns = append(conns, c)
			}
			c, status, body := dialWithHeader(t, srv.URL, from(tc.next))
			if c != nil {
				t.Fatal("upgrade over the cap accepted")
			}
			if status != tc.status || !strings.Contains(body, tc.body) {
				t.Fatalf("refused %d %q, want %d saying %q", status, body, tc.status, tc.body)
			}
			if got := refusedMetric(t, srv, tc.reason); got != "1" {
				t.Fatalf("sovmesh_connections_refused_total{reason=%q} = %s, want 1", tc.reason, got)
			}
			// Closing the first connection of that client (or any, for the
			// total) frees a slot.
			conns[0].Close()
			dialUntilOpen(t, srv.URL, from(tc.next))
		})
	}
}

// TestConnectionSlotsReleased: many connections opened and closed one after
// another under a cap of one, and failed upgrades, leave no slot taken.
func TestConnectionSlotsReleased(t *testing.T) {
	srv := relaytest.New(t, func(c *relay.Config) { c.IPMaxConnections, c.MaxConnections = 1, 1 })
	for i := range 30 {
		c := dialUntilOpen(t, srv.URL, nil)
		if i%2 == 0 {
			c.Close() // client closes
		} else {
			c.sendJSON("REQ") // a message the relay cannot parse; then the client vanishes
			c.Close()
		}
	}
	// Upgrades that fail after admission (no Sec-WebSocket-Key) release too.
	badUpgrade := func() int {
		conn, err := net.Dial("tcp", strings.TrimPrefix(srv.HTTP, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The last client's slot is free once the relay has seen it go.
	code := 0
	waitFor(t, 5*time.Second, "the last client's slot", func() bool { code = badUpgrade(); return code != http.StatusServiceUnavailable })
	for i := range 5 {
		if i > 0 {
			code = badUpgrade()
		}
		if code != http.StatusBadRequest {
			t.Fatalf("bad upgrade %d answered %d, want 400", i, code)
		}
	}
	dialUntilOpen(t, srv.URL, nil)
	waitFor(t, 5*time.Second, "one open connection", func() bool { return srv.Connections() == 1 })
}

// TestConnectionBurstPerIP: one client IP opens at most --ip-conn-burst new
// connections at once (the whole minute's --ip-conn-per-minute when it is
// 0); the next upgrade is refused 429 naming both limits, while another
// address still connects. The rates are low enough that no token comes back
// during the test.
func TestConnectionBurstPerIP(t *testing.T) {
	cases := []struct {
		name             string
		perMinute, burst int
		admitted         int
	}{
		{"burst below the minute's rate", 6, 3, 3},
		{"burst 0 is the minute's rate", 4, 0, 4},
		{"burst above the minute's rate is capped", 2, 5, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := relaytest.New(t, func(c *relay.Config) {
				c.IPConnPerMinute, c.IPConnBurst = tc.perMinute, tc.burst
				c.TrustedProxies = prefixes(t, "127.0.0.0/8")
			})
			for i := range tc.admitted {
				c, status, body := dialWithHeader(t, srv.URL, from("203.0.113.1"))
				if c == nil {
					t.Fatalf("connection %d refused within the burst: %d %s", i, status, body)
				}
				defer c.Close()
			}
			c, status, body := dialWithHeader(t, srv.URL, from("203.0.113.1"))
			if c != nil {
				c.Close()
				t.Fatalf("connection %d accepted over the burst of %d", tc.admitted+1, tc.admitted)
			}
			want := fmt.Sprintf("at most %d at once and %d a minute", tc.admitted, tc.perMinute)
			if status != http.StatusTooManyRequests || !strings.Contains(body, want) {
				t.Fatalf("refused %d %q, want 429 saying %q", status, body, want)
			}
			if got := refusedMetric(t, srv, "ip_rate"); got != "1" {
				t.Fatalf(`sovmesh_connections_refused_total{reason="ip_rate"} = %s, want 1`, got)
			}
			other, status, body := dialWithHeader(t, srv.URL, from("203.0.113.2"))
			if other == nil {
				t.Fatalf("another address refused: %d %s", status, body)
			}
			other.Close()
		})
	}
}
