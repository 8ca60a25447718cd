package mcpserver_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/mcpserver"
)

// TestHTTPHandlerKey: the streamable HTTP endpoint answers an initialize
// request only with the bearer key; a wrong key, another scheme, no key,
// and a server with no key configured are all 401, and a request naming a
// host other than loopback is refused too (DNS rebinding).
func TestHTTPHandlerKey(t *testing.T) {
	const key = "0123456789abcdef-the-key"
	// The tools never run here: initialize does not touch the node.
	srv := mcpserver.New(&agentd.Node{}, nil, nil).MCP("test")
	const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	for _, c := range []struct {
		name       string
		serverKey  string
		auth, host string
		want       int
	}{
		{"the key", key, "Bearer " + key, "", http.StatusOK},
		{"wrong key", key, "Bearer " + key + "x", "", http.StatusUnauthorized},
		{"prefix of the key", key, "Bearer " + key[:10], "", http.StatusUnauthorized},
		{"no key", key, "", "", http.StatusUnauthorized},
		{"basic auth", key, "Basic " + key, "", http.StatusUnauthorized},
		{"server without a key", "", "Bearer ", "", http.StatusUnauthorized},
		{"foreign host", key, "Bearer " + key, "evil.example:80", http.StatusForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := httptest.NewServer(mcpserver.HTTPHandler(srv, c.serverKey))
			defer ts.Close()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL, strings.NewReader(initialize))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			if c.host != "" {
				req.Host = c.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.want)
			}
		})
	}
}
