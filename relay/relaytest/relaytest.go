// Package relaytest starts real sovmesh relays on 127.0.0.1 for tests: the
// same relay.Relay meshrelay runs, on a free port, with its data in the
// test's temporary directory, shut down when the test ends.
package relaytest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/relay"
)

// Server is a running test relay.
type Server struct {
	*relay.Relay
	// URL is the relay's websocket address, ws://127.0.0.1:PORT.
	URL string
	// HTTP is the same address as http://127.0.0.1:PORT.
	HTTP string
	// Config is the configuration the relay runs with.
	Config relay.Config
}

// Start runs a relay with the default configuration (rate limits, the
// per-IP connection cap and the heavy-query cache lifted so tests are not
// throttled and see every write) and returns its websocket URL.
func Start(t testing.TB) string {
	t.Helper()
	return New(t, nil).URL
}

// New runs a relay configured by configure (which may be nil) and opts, on
// the event store relay.OpenStore opens for its configuration. Logs go to
// t.Log only when the test fails verbosely; set opts to override.
func New(t testing.TB, configure func(*relay.Config), opts ...relay.Option) *Server {
	t.Helper()
	return NewOnStore(t, configure, nil, opts...)
}

// NewOnStore is New on the event store store returns for the relay's
// configuration (nil: relay.OpenStore's), so a test can wrap the real store.
// The relay closes the store.
func NewOnStore(t testing.TB, configure func(*relay.Config), store func(testing.TB, relay.Config) relay.Store, opts ...relay.Option) *Server {
	t.Helper()
	cfg := relay.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.IPEventRate, cfg.PubkeyEventRate, cfg.IPReqRate, cfg.IPNegRate, cfg.IPReadRate, cfg.IPConnPerMinute = 0, 0, 0, 0, 0, 0
	cfg.IPMaxConnections = 0
	cfg.IPHeavyRate, cfg.HeavyCacheTTL = 0, 0
	if configure != nil {
		configure(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	var st relay.Store
	if store != nil {
		st = store(t, cfg)
	} else {
		var err error
		if st, err = relay.OpenStore(cfg, log); err != nil {
			t.Fatalf("relaytest: open store: %v", err)
		}
	}
	r, err := relay.New(cfg, st, append([]relay.Option{relay.WithLogger(log)}, opts...)...)
	if err != nil {
		t.Fatalf("relaytest: new relay: %v", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatalf("relaytest: listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("relaytest: shutdown: %v", err)
		}
		if err := <-done; err != nil && !errors.Is(err, relay.ErrClosed) {
			t.Errorf("relaytest: serve: %v", err)
		}
	})
	addr := ln.Addr().String()
	return &Server{Relay: r, URL: "ws://" + addr, HTTP: "http://" + addr, Config: cfg}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
