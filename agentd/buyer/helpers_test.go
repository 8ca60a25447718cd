package buyer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/nips"
)

// runningProvider is a provider node and its Run goroutine.
type runningProvider struct {
	Node *agentd.Node
	P    *provider.Provider
	stop context.CancelFunc
	done chan struct{}
	once sync.Once
}

// Kill stops the provider and its host (as a crash would, minus the disk).
func (r *runningProvider) Kill() {
	r.once.Do(func() {
		r.stop()
		<-r.done
		_ = r.Node.Host.Close()
	})
}

func startProvider(t testing.TB, net *agentdtest.Net, name string, cfg provider.Config) *runningProvider {
	t.Helper()
	nd := net.Node(t, name, 0)
	p, err := provider.New(nd, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rp := &runningProvider{Node: nd, P: p, stop: cancel, done: make(chan struct{})}
	runErr := make(chan error, 1)
	go func() { defer close(rp.done); runErr <- p.Run(ctx) }()
	t.Cleanup(rp.Kill)
	// Wait for its offers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ready := true
		for _, r := range nips.Resources {
			if (r == nips.Storage && cfg.Storage != nil) || (r == nips.Bandwidth && cfg.Bandwidth != nil) || (r == nips.Inference && cfg.Inference != nil) {
				if _, ok := p.Offer(r); !ok {
					ready = false
				}
			}
		}
		if ready {
			break
		}
		select {
		case err := <-runErr:
			t.Fatalf("provider %s: %v", name, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("provider %s did not publish its offers", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // its bid subscription
	return rp
}

func storageCfg(price uint64) provider.Config {
	return provider.Config{Storage: &provider.StorageConfig{Quota: 1 << 30, PriceMsat: price, Retention: 7 * 86400}}
}
