package provider_test

import (
	"context"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/nips"
)

// TestDynamicPricing: the offer on the relay follows load within bounds.
func TestDynamicPricing(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	nd := net.Node(t, "p", 0)
	pr := provider.DefaultPricing(1000)
	p, err := provider.New(nd, provider.Config{Bandwidth: &provider.BandwidthConfig{PriceMsat: 1000, MaxConns: 4, Pricing: &pr}, PriceInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(rctx) }()
	defer func() { cancel(); <-done }()
	waitReady(t, p, done)
	published := func() uint64 {
		t.Helper()
		evs, err := nd.Relays.Query(ctx, nostr.Filter{Kinds: []int{nips.KindOffer}, Authors: []string{nd.Key.Pubkey}})
		if err != nil || len(evs) != 1 {
			t.Fatalf("%d offers: %v", len(evs), err)
		}
		o, err := nips.ParseOffer(evs[0])
		if err != nil {
			t.Fatal(err)
		}
		return o.Prices.Max()
	}
	if got := published(); got != 1000 {
		t.Fatalf("base price %d", got)
	}
	p.SetLoad(nips.Bandwidth, 4) // full
	for range 3 {
		p.AdjustPrices(ctx)
	}
	busy := published()
	if busy <= 1000 || busy > pr.Max {
		t.Fatalf("busy price %d", busy)
	}
	p.SetLoad(nips.Bandwidth, 0)
	for range 40 {
		p.AdjustPrices(ctx)
	}
	if idle := published(); idle != pr.Min {
		t.Fatalf("idle price %d, want the floor %d", idle, pr.Min)
	}
}
