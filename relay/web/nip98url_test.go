package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sovmesh/sovmesh/relay/relaytest"
	"github.com/sovmesh/sovmesh/relay/web"
)

// TestNIP98URLOnRelay: with the pages on a real relay, a NIP-98 header
// signed for another host is refused even when the request's Host (or a
// proxy's X-Forwarded-Host) names that host; one naming the listen address,
// or the --public-url when set, gets in.
func TestNIP98URLOnRelay(t *testing.T) {
	cases := []struct {
		name, publicURL string
		header          map[string]string // on the request
		u               string            // u tag; SELF = http://127.0.0.1:PORT
		want            int
	}{
		{"listen address", "", nil, "SELF", http.StatusOK},
		{"localhost", "", nil, "http://localhost:PORT", http.StatusOK},
		{"other host named in Host", "", map[string]string{"Host": "relay.example.com"}, "http://relay.example.com", http.StatusUnauthorized},
		{"other host named in X-Forwarded-Host", "", map[string]string{"X-Forwarded-Host": "relay.example.com", "X-Forwarded-Proto": "https"}, "https://relay.example.com", http.StatusUnauthorized},
		{"public URL", "https://relay.example.com", nil, "https://relay.example.com", http.StatusOK},
		{"listen address with a public URL", "https://relay.example.com", nil, "SELF", http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := relaytest.New(t, nil)
			sk, pk := newKey(t)
			cfg := web.DefaultConfig()
			cfg.Operator, cfg.BaseURL = pk, tc.publicURL
			st, _ := srv.Store().(web.Store)
			pages, err := web.New(cfg, st, web.WithLogger(quiet()), web.WithListenURLs(func() []string { return srv.ListenURLs("http") }))
			if err != nil {
				t.Fatal(err)
			}
			pages.Register(srv.Mux())
			port := srv.HTTP[strings.LastIndex(srv.HTTP, ":")+1:]
			u := strings.ReplaceAll(strings.ReplaceAll(tc.u, "SELF", srv.HTTP), "PORT", port) + "/admin/api/stats"
			req, err := http.NewRequestWithContext(t.Context(), "GET", srv.HTTP+"/admin/api/stats", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				if k == "Host" {
					req.Host = v
				} else {
					req.Header.Set(k, v)
				}
			}
			req.Header.Set("Authorization", authHeader(t, sk, "GET", u))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("u %q: status %d (%s), want %d", u, resp.StatusCode, body, tc.want)
			}
			if tc.want != http.StatusOK && !strings.Contains(string(body), "u tag") {
				t.Fatalf("refusal %s does not name the u tag", body)
			}
		})
	}
}
