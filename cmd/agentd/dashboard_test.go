package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/internal/syncbuf"
	"github.com/sovmesh/sovmesh/transport"
)

// TestProvideServesDashboard: agentd provide serves its dashboard on
// --dashboard with the running provider's data, stops it with the
// command, and keeps providing (saying so) when the address is taken.
func TestProvideServesDashboard(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name, addr string
		want       *regexp.Regexp // in the log once providing
	}{
		{"served", "127.0.0.1:0", regexp.MustCompile(`dashboard on (http://127\.0\.0\.1:\d+/)`)},
		{"address taken", taken.Addr().String(), regexp.MustCompile(`no dashboard: .*address already in use`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			net := agentdtest.Start(t)
			env := map[string]string{
				"SOVMESH_DATA":      t.TempDir(),
				"SOVMESH_RELAY":     net.Relay,
				"SOVMESH_MINT":      net.Mint.URL(),
				"SOVMESH_LISTEN":    strings.Join(transport.LoopbackListenAddrs, ","),
				"SOVMESH_DASHBOARD": tc.addr,
			}
			var stderr syncbuf.Buffer
			ctx, stop := context.WithCancel(t.Context())
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"provide", "--storage-size", "1MiB"}, envOf(env), strings.NewReader(""), &bytes.Buffer{}, &stderr)
			}()
			defer func() { stop(); <-done }()
			var m []string
			for deadline := time.Now().Add(30 * time.Second); m == nil; time.Sleep(20 * time.Millisecond) {
				if m = tc.want.FindStringSubmatch(stderr.String()); m == nil && time.Now().After(deadline) {
					t.Fatalf("no %q in the log: %s", tc.want, stderr.String())
				}
			}
			if len(m) < 2 {
				// No dashboard: the provider runs on.
				for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stderr.String(), "provider running"); time.Sleep(20 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("the provider did not run on: %s", stderr.String())
					}
				}
				return
			}
			url := m[1]
			var d struct {
				StorageQuota int64 `json:"storage_quota"`
				Prices       []struct {
					Resource string `json:"resource"`
				} `json:"prices"`
			}
			resp, err := http.Get(url + "api/dashboard")
			if err != nil {
				t.Fatal(err)
			}
			err = json.NewDecoder(resp.Body).Decode(&d)
			resp.Body.Close()
			if err != nil || d.StorageQuota != 1<<20 || len(d.Prices) != 1 || d.Prices[0].Resource != "storage" {
				t.Fatalf("dashboard data %+v (%v), want 1 MiB of storage for sale", d, err)
			}
			stop()
			if code := <-done; code != 0 {
				t.Fatalf("provide exited %d: %s", code, stderr.String())
			}
			done <- 0 // for the deferred wait
			if _, err := http.Get(url); err == nil {
				t.Fatal("the dashboard still answers after provide stopped")
			}
		})
	}
}

// TestDashboardLoopback: a dashboard on any other address than loopback
// gets a warning that it has no login.
func TestDashboardLoopback(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "": false, "0.0.0.0": false, "192.168.1.5": false, "::": false} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v", host, got)
		}
	}
}
