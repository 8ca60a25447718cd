// Package providertest runs a real provider (agentd/provider) on an
// agentdtest net for tests of what buys from it.
package providertest

import (
	"context"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
)

// Start opens node name on net and runs a provider with cfg on it until
// the test ends. It returns once the provider's offers are on the relay
// and it answers bids (provider.Provider.Ready).
func Start(t testing.TB, net *agentdtest.Net, name string, cfg provider.Config) *agentd.Node {
	t.Helper()
	nd := net.Node(t, name, 0)
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
	case <-p.Ready():
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("providertest: %s stopped: %v", name, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("providertest: %s did not start in 30 s", name)
	}
	return nd
}
