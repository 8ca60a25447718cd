package buyer

import (
	"bytes"
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// TestBuyThroughPeeredRelay: a provider on relay A, a buyer who knows only
// relay B, which peers with A (--peers). The offer reaches B, the buyer's
// gift-wrapped bid reaches A, the provider's match comes back through B,
// and the file is stored and read back.
func TestBuyThroughPeeredRelay(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	prov := startProvider(t, net, "prov", storageCfg(2_000_000))
	b := relaytest.New(t, func(c *relay.Config) {
		c.Peers = []string{net.Relay}
		c.PeerKinds = append(nips.MarketKinds(), nips.KindDeletion, nips.KindGiftWrap, nips.KindSafeBox)
	})
	bn := net.NodeWith(t, "buyer", 5000, func(c *agentd.Config) { c.Relays = []string{b.URL} })
	buy, err := New(ctx, bn, Config{Replicas: 1, StorageDuration: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The offer arrives at B by reconciliation.
	arrived := make(chan struct{})
	sctx, stop := context.WithCancel(ctx)
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		var once sync.Once
		bn.Relays.Subscribe(sctx, nostr.Filters{{Kinds: []int{nips.KindOffer}, Authors: []string{prov.Node.Key.Pubkey}}},
			func(*nostr.Event) { once.Do(func() { close(arrived) }) }, nil)
	}()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the provider's offer never reached the buyer's relay")
	}
	stop()
	<-subDone
	if cands, err := buy.Discover(ctx, nips.Storage, ""); err != nil || len(cands) != 1 {
		t.Fatalf("the buyer discovers %d providers through its relay (%v), want 1", len(cands), err)
	}
	data := make([]byte, 256<<10)
	rand.Read(data)
	e, err := buy.Put(ctx, bytes.NewReader(data), "peered.bin", int64(len(data)), nil)
	if err != nil {
		t.Fatalf("put through the peered relay: %v", err)
	}
	var out bytes.Buffer
	if _, err := buy.Get(ctx, e.Root, &out, nil); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("get through the peered relay: %v (equal %v)", err, bytes.Equal(out.Bytes(), data))
	}
}
