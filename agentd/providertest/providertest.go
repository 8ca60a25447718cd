// Package providertest runs a real provider (agentd/provider) on an
// agentdtest net for tests of what buys from it.
package providertest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
)

// runningMsg is what Provider.Run logs once its offers are published and
// its bid subscription is up.
const runningMsg = "provider running"

// readyHandler closes ready when the provider logs runningMsg, passing
// every record on to next (when not nil).
type readyHandler struct {
	slog.Handler
	ready chan struct{}
	once  *sync.Once
}

func (h readyHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.Handler.Enabled(ctx, l)
}

func (h readyHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == runningMsg {
		h.once.Do(func() { close(h.ready) })
	}
	if h.Handler.Enabled(ctx, r.Level) {
		return h.Handler.Handle(ctx, r)
	}
	return nil
}

func (h readyHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return readyHandler{Handler: h.Handler.WithAttrs(as), ready: h.ready, once: h.once}
}

func (h readyHandler) WithGroup(name string) slog.Handler {
	return readyHandler{Handler: h.Handler.WithGroup(name), ready: h.ready, once: h.once}
}

// Start opens node name on net and runs a provider with cfg on it until
// the test ends. It returns once the provider's offers are on the relay
// and it answers bids.
func Start(t testing.TB, net *agentdtest.Net, name string, cfg provider.Config) *agentd.Node {
	t.Helper()
	ready := make(chan struct{})
	var next slog.Handler = slog.DiscardHandler
	if l := agentdtest.Logger(); l != nil {
		next = l.Handler()
	}
	nd := net.NodeWith(t, name, 0, func(c *agentd.Config) {
		c.Logger = slog.New(readyHandler{Handler: next, ready: ready, once: &sync.Once{}})
	})
	p, err := provider.New(nd, cfg)
	if err != nil {
		t.Fatalf("providertest: %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("providertest: %s stopped: %v", name, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("providertest: %s did not start in 30 s", name)
	}
	return nd
}
