package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/pgtest"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// leadLog is the log line of a relay that takes the matching engine.
const leadLog = `"msg":"matching engine lead taken"`

// marketEvents are an offer by a fresh provider and an open bid by a fresh
// buyer that it fills; tag names the offer's d tag.
func marketEvents(t *testing.T, tag string) (offer, bid nostr.Event, buyer string) {
	t.Helper()
	provider, buyerSK := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
	o := nipstest.BandwidthOffer()
	o.ID, o.Prices, o.Geohash = tag, nips.Prices{{Unit: nips.UnitMiB, Msat: 40}}, "dr5rs"
	o.Expiration = nostr.Now() + 3600
	offer = o.ToEvent(nostr.Now())
	b := nipstest.OpenBid()
	b.Quantity, b.MinFill, b.MinTrust, b.Regions = 1024, 1, 0, []string{"dr5"}
	b.MaxPrices = nips.Prices{{Unit: nips.UnitMiB, Msat: 80}}
	b.Expiration = nostr.Now() + 600
	bid = b.ToEvent(nostr.Now())
	if err := offer.Sign(provider); err != nil {
		t.Fatal(err)
	}
	if err := bid.Sign(buyerSK); err != nil {
		t.Fatal(err)
	}
	buyer, _ = nostr.GetPublicKey(buyerSK)
	return offer, bid, buyer
}

// waitMatch waits (bounded) for the relay's proposal for bid on sub (the
// provider's Match would confirm it; there is no provider here).
func waitMatch(t *testing.T, sub *nostr.Subscription, bid, relayPK string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case evt := <-sub.Events:
			m, err := nips.ParseProposal(evt)
			if err != nil {
				t.Fatalf("proposal event: %v", err)
			}
			if evt.PubKey != relayPK {
				t.Fatalf("proposal signed by %s, want the market key %s", evt.PubKey, relayPK)
			}
			if m.Bid == bid {
				return
			}
		case <-deadline:
			t.Fatalf("no proposal for bid %s", bid)
		}
	}
}

// TestThreeRelaysServeOneMarketOnPostgres: three meshrelay processes on one
// PostgreSQL database, one relay key. An event published on one is
// received live on another and found by a query on the third; the first
// process leads the matching engine and a bid sent to another process is
// matched; SIGKILL of the leader while clients publish hands the engine to
// another process, which matches again, and every acknowledged event is
// still served.
func TestThreeRelaysServeOneMarketOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	url := pgtest.DB(t)
	bin := buildRelay(t)
	sk := nostr.GeneratePrivateKey()
	relayPK, _ := nostr.GetPublicKey(sk)
	env := []string{"SOVMESH_DATABASE=" + url}
	var ps []*process
	for i := range 3 {
		data := filepath.Join(t.TempDir(), fmt.Sprint("relay", i))
		if err := os.Mkdir(data, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, "relay.key"), []byte(sk), 0o600); err != nil {
			t.Fatal(err)
		}
		// Started one after the other: the first leads.
		ps = append(ps, startWith(t, bin, data, env))
	}
	if !strings.Contains(ps[0].logString(), leadLog) {
		t.Fatalf("the first relay does not lead; logs:\n%s", ps[0].logString())
	}
	for _, p := range ps[1:] {
		if strings.Contains(p.logString(), leadLog) {
			t.Fatalf("a second relay leads too; logs:\n%s", p.logString())
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	conn := func(p *process) *nostr.Relay {
		rl, err := nostr.RelayConnect(ctx, p.url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rl.Close() })
		return rl
	}
	r0, r1, r2 := conn(ps[0]), conn(ps[1]), conn(ps[2])

	// Publish on one, receive live on another, query on the third.
	live, err := r1.Subscribe(ctx, nostr.Filters{{Kinds: []int{1}}})
	if err != nil {
		t.Fatal(err)
	}
	<-live.EndOfStoredEvents
	note := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: "across processes"}
	if err := note.Sign(nostr.GeneratePrivateKey()); err != nil {
		t.Fatal(err)
	}
	if err := r0.Publish(ctx, note); err != nil {
		t.Fatal(err)
	}
	select {
	case evt := <-live.Events:
		if evt.ID != note.ID {
			t.Fatalf("live event %s, want %s", evt.ID, note.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the event published on relay 0 did not reach relay 1's subscriber")
	}
	if got, err := r2.QuerySync(ctx, nostr.Filter{IDs: []string{note.ID}}); err != nil || len(got) != 1 {
		t.Fatalf("query on relay 2: %d events (%v), want the one published on relay 0", len(got), err)
	}

	// The leader (relay 0) matches a bid sent to relay 2 against an offer
	// sent to relay 1; the match reaches relay 2's subscriber.
	offer, bid, buyer := marketEvents(t, "before")
	matches, err := r2.Subscribe(ctx, nostr.Filters{{Kinds: []int{nips.KindProposal}, Tags: nostr.TagMap{"p": {buyer}}}})
	if err != nil {
		t.Fatal(err)
	}
	<-matches.EndOfStoredEvents
	if err := r1.Publish(ctx, offer); err != nil {
		t.Fatal(err)
	}
	if err := r2.Publish(ctx, bid); err != nil {
		t.Fatal(err)
	}
	waitMatch(t, matches, bid.ID, relayPK)
	bids := []string{bid.ID}

	// Clients keep publishing to every relay while the leader is killed.
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	enough := make(chan struct{})
	var once sync.Once
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rl, err := nostr.RelayConnect(ctx, p.url)
			if err != nil {
				t.Errorf("connect: %v", err)
				return
			}
			defer rl.Close()
			author := nostr.GeneratePrivateKey()
			for n := range 150 {
				evt := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: fmt.Sprintf("%d/%d", i, n)}
				_ = evt.Sign(author)
				if err := rl.Publish(ctx, evt); err != nil {
					if i == 0 {
						return // the killed relay
					}
					t.Errorf("publish on relay %d: %v", i, err)
					return
				}
				mu.Lock()
				acked = append(acked, evt.ID)
				if len(acked) >= 60 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-enough:
	case <-ctx.Done():
		t.Fatal("publishing stalled")
	}
	if err := ps[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-ps[0].done
	killed := time.Now()

	// Another relay takes the engine over (it polls the lock every second).
	var leader *process
	deadline := time.After(20 * time.Second)
	for leader == nil {
		for _, p := range ps[1:] {
			if strings.Contains(p.logString(), leadLog) {
				leader = p
			}
		}
		if leader != nil {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("no relay took the matching engine over after the leader was killed; logs:\n%s\n%s", ps[1].logString(), ps[2].logString())
		case <-time.After(50 * time.Millisecond): // polling a log, not synchronising
		}
	}
	t.Logf("matching engine taken over %v after SIGKILL", time.Since(killed).Round(time.Millisecond))
	for _, p := range ps[1:] {
		if p != leader && strings.Contains(p.logString(), leadLog) {
			t.Fatal("both remaining relays lead")
		}
	}

	// Matching resumes: an offer and a bid sent to the two survivors match.
	offer, bid, buyer = marketEvents(t, "after")
	matches, err = r1.Subscribe(ctx, nostr.Filters{{Kinds: []int{nips.KindProposal}, Tags: nostr.TagMap{"p": {buyer}}}})
	if err != nil {
		t.Fatal(err)
	}
	<-matches.EndOfStoredEvents
	if err := r2.Publish(ctx, offer); err != nil {
		t.Fatal(err)
	}
	if err := r1.Publish(ctx, bid); err != nil {
		t.Fatal(err)
	}
	waitMatch(t, matches, bid.ID, relayPK)
	bids = append(bids, bid.ID)

	// No acknowledged event is lost, whichever relay acknowledged it.
	wg.Wait()
	mu.Lock()
	want := append([]string(nil), acked...)
	mu.Unlock()
	found := map[string]bool{}
	for i := 0; i < len(want); i += 200 {
		batch := want[i:min(i+200, len(want))]
		evts, err := r2.QuerySync(ctx, nostr.Filter{IDs: batch, Limit: len(batch)})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evts {
			found[e.ID] = true
		}
	}
	for _, id := range want {
		if !found[id] {
			t.Errorf("acknowledged event %s lost", id)
		}
	}
	t.Logf("%d acknowledged events, all served after the leader's SIGKILL", len(want))

	// One engine at a time: each bid was matched once.
	for _, id := range bids {
		got, err := r2.QuerySync(ctx, nostr.Filter{Kinds: []int{nips.KindProposal}, Tags: nostr.TagMap{"e": {id}}})
		if err != nil || len(got) != 1 {
			t.Errorf("bid %s: %d proposals (%v), want 1", id, len(got), err)
		}
	}
}
