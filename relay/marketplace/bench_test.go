package marketplace_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
	"github.com/sovmesh/sovmesh/relay/marketplace"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// benchMarket starts a relay with the marketplace and nOffers open bandwidth
// offers from 500 providers, published over websocket.
func benchMarket(b *testing.B, nOffers int) (*relaytest.Server, *marketplace.Marketplace) {
	b.Helper()
	cfg := marketplace.DefaultConfig()
	cfg.UnknownRate, cfg.UnknownBurst, cfg.TrustedRate, cfg.TrustedBurst = 1e6, 1e6, 1e6, 1e6
	m, err := marketplace.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	srv := relaytest.New(b, nil, m.Options()...)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(func() { cancel(); m.Wait() })
	if err := m.Start(ctx, srv.Relay); err != nil {
		b.Fatal(err)
	}
	providers := make([]string, 500)
	for i := range providers {
		providers[i] = nostr.GeneratePrivateKey()
	}
	offers := make([]nostr.Event, nOffers)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < nOffers; i += 4 {
				o := nipstest.BandwidthOffer()
				o.ID = fmt.Sprintf("o%d", i)
				o.Prices = nips.Prices{{Unit: nips.UnitMiB, Msat: 20 + uint64(i%100)}}
				o.MinQuantity, o.MaxQuantity, o.Capacity = 1, 1<<20, 1<<30
				o.Geohash = []string{"u0yjj", "dr5rs", "9q8yy", "gcpvj"}[i%4]
				o.Expiration = nostr.Now() + 3600
				evt := o.ToEvent(nostr.Now())
				_ = evt.Sign(providers[i%len(providers)])
				offers[i] = evt
			}
		}()
	}
	wg.Wait()
	publishAll(b, srv.URL, offers, 8)
	return srv, m
}

// publishAll publishes evts over conns connections, 16 in flight on each.
func publishAll(b *testing.B, url string, evts []nostr.Event, conns int) {
	b.Helper()
	const perConn = 16
	var wg sync.WaitGroup
	errs := make(chan error, conns*perConn)
	for c := range conns {
		rl, err := nostr.RelayConnect(context.Background(), url)
		if err != nil {
			b.Fatal(err)
		}
		defer rl.Close()
		for w := range perConn {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := c*perConn + w; i < len(evts); i += conns * perConn {
					if err := rl.Publish(context.Background(), evts[i]); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

func bids(b *testing.B, buyer string, n int) []nostr.Event {
	out := make([]nostr.Event, n)
	for i := range out {
		bid := nipstest.OpenBid()
		bid.Quantity, bid.MinFill, bid.MinTrust = 64+uint64(i), 1, 0 // distinct events
		bid.Regions = []string{[]string{"u0", "dr5", "9q8", "gcp"}[i%4]}
		bid.MaxPrices = nips.Prices{{Unit: nips.UnitMiB, Msat: 120}}
		bid.Expiration = nostr.Now() + 3600
		evt := bid.ToEvent(nostr.Now())
		_ = evt.Sign(buyer)
		out[i] = evt
	}
	return out
}

// BenchmarkBidToMatch measures, with 10k open offers, the time from
// publishing an open bid to receiving the relay's proposal on a subscription,
// one bid at a time (p50 and p99 reported).
func BenchmarkBidToMatch(b *testing.B) {
	srv, _ := benchMarket(b, 10000)
	buyer := nostr.GeneratePrivateKey()
	buyerPK, _ := nostr.GetPublicKey(buyer)
	rl, err := nostr.RelayConnect(context.Background(), srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer rl.Close()
	sub, err := rl.Subscribe(context.Background(), nostr.Filters{{Kinds: []int{nips.KindProposal}, Tags: nostr.TagMap{"p": {buyerPK}}, Since: new(nostr.Now())}})
	if err != nil {
		b.Fatal(err)
	}
	<-sub.EndOfStoredEvents
	all := bids(b, buyer, b.N)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if err := rl.Publish(context.Background(), all[i]); err != nil {
			b.Fatal(err)
		}
		for matched := false; !matched; {
			select {
			case evt := <-sub.Events:
				matched = evt.Tags.FindWithValue("e", all[i].ID) != nil
			case <-time.After(10 * time.Second):
				b.Fatalf("no match for bid %d", i)
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}

// BenchmarkMatchThroughput publishes bids from 8 connections at once
// against 10k open offers and reports matched bids per second.
func BenchmarkMatchThroughput(b *testing.B) {
	srv, m := benchMarket(b, 10000)
	all := bids(b, nostr.GeneratePrivateKey(), b.N)
	before := m.ProposalsPublished()
	b.ResetTimer()
	start := time.Now()
	publishAll(b, srv.URL, all, 8)
	deadline := time.Now().Add(time.Minute)
	for m.ProposalsPublished()-before < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if got := m.ProposalsPublished() - before; got < int64(b.N) {
		b.Fatalf("%d of %d bids matched", got, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "bids/s")
}
