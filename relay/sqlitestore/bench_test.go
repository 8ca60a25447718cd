package sqlitestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/storetest"
)

// benchEvent is a kind-1 note of realistic size: 3 tags, 200 bytes of text.
func benchEvent(r *rand.Rand, pubkeys []string, createdAt int64) *nostr.Event {
	kind := 1
	switch n := r.IntN(10); {
	case n < 2:
		kind = 7
	case n < 3:
		kind = 30023
	}
	tags := nostr.Tags{
		{"t", "topic" + strconv.Itoa(r.IntN(100))},
		{"p", pubkeys[r.IntN(len(pubkeys))]},
		{"e", storetest.RandomHex(), "wss://relay.example.com", "reply"},
	}
	if kind == 30023 {
		tags = append(tags, nostr.Tag{"d", "article-" + strconv.Itoa(r.IntN(1000))})
	}
	e := storetest.Event(kind, pubkeys[r.IntN(len(pubkeys))], createdAt, tags, strings.Repeat("lorem ipsum ", 17))
	e.Sig = storetest.RandomHex() + storetest.RandomHex()
	return e
}

func benchPubkeys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = storetest.RandomHex()
	}
	return out
}

// BenchmarkSaveEvent measures durable saves (each returns after its group's
// fsync) with 1, 16 and 64 concurrent writers.
func BenchmarkSaveEvent(b *testing.B) {
	pks := benchPubkeys(1000)
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, _ := openTemp(b)
			defer s.Close()
			r := rand.New(rand.NewPCG(1, uint64(writers)))
			evs := make([]*nostr.Event, b.N)
			for i := range evs {
				evs[i] = benchEvent(r, pks, 1_700_000_000+int64(i))
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(len(evs)) {
							return
						}
						if err := s.SaveEvent(context.Background(), evs[i]); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkQuery100k measures query latency (compile, run, decode, drain the
// channel) over 100k stored events: 1000 authors, kinds 1/7/30023, 100
// hashtags.
func BenchmarkQuery100k(b *testing.B) {
	const n = 100_000
	s, _ := openTemp(b)
	defer s.Close()
	pks := benchPubkeys(1000)
	r := rand.New(rand.NewPCG(7, 7))
	evs := make([]*nostr.Event, n)
	for i := range evs {
		evs[i] = benchEvent(r, pks, 1_700_000_000+int64(r.IntN(30*86400)))
	}
	fill := make(chan *nostr.Event)
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range fill {
				if err := s.SaveEvent(context.Background(), e); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for _, e := range evs {
		fill <- e
	}
	close(fill)
	wg.Wait()

	run := func(name string, want int, mk func(i int) nostr.Filter) {
		b.Run(name, func(b *testing.B) {
			got := 0
			for i := 0; i < b.N; i++ {
				ch, err := s.QueryEvents(context.Background(), mk(i))
				if err != nil {
					b.Fatal(err)
				}
				got = 0
				for range ch {
					got++
				}
			}
			if got < want {
				b.Fatalf("last query returned %d events, want at least %d", got, want)
			}
		})
	}
	run("by id", 1, func(i int) nostr.Filter { return nostr.Filter{IDs: []string{evs[(i*7919)%n].ID}} })
	run("author+kind limit 20", 20, func(i int) nostr.Filter {
		return nostr.Filter{Authors: []string{evs[(i*7919)%n].PubKey}, Kinds: []int{1}, Limit: 20}
	})
	run("tag limit 50", 50, func(i int) nostr.Filter {
		return nostr.Filter{Tags: nostr.TagMap{"t": {"topic" + strconv.Itoa(i%100)}}, Limit: 50}
	})
	run("kind limit 500", 500, func(i int) nostr.Filter { return nostr.Filter{Kinds: []int{1}, Limit: 500} })
	run("nip09 kind5 #e", 0, func(i int) nostr.Filter {
		return nostr.Filter{Kinds: []int{5}, Tags: nostr.TagMap{"e": {evs[(i*7919)%n].ID}}}
	})
}

// BenchmarkCountUnion measures the COUNT a client floods with in
// bench/attack's count-flood: every stored event, as two overlapping
// filters, over 5,000 events.
func BenchmarkCountUnion(b *testing.B) {
	const n = 5000
	s, _ := openTemp(b)
	defer s.Close()
	pks := benchPubkeys(100)
	r := rand.New(rand.NewPCG(7, 7))
	for range n {
		if err := s.SaveEvent(b.Context(), benchEvent(r, pks, 1_700_000_000+int64(r.IntN(86400)))); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name    string
		filters []nostr.Filter
	}{
		{"one filter", []nostr.Filter{{Kinds: []int{1}}}},
		{"two filters", []nostr.Filter{{}, {Kinds: []int{1}}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				got, err := s.CountUnion(b.Context(), bc.filters, 20000)
				if err != nil {
					b.Fatal(err)
				}
				if got == 0 || got > n {
					b.Fatalf("counted %d of %d events", got, n)
				}
			}
		})
	}
}
