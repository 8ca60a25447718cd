package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiatjaf/eventstore"
	"github.com/nbd-wtf/go-nostr"
)

// BenchEvent is a kind-1 note of realistic size: 3 tags, 200 bytes of text.
func BenchEvent(r *rand.Rand, pubkeys []string, createdAt int64) *nostr.Event {
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
		{"e", RandomHex(), "wss://relay.example.com", "reply"},
	}
	if kind == 30023 {
		tags = append(tags, nostr.Tag{"d", "article-" + strconv.Itoa(r.IntN(1000))})
	}
	e := Event(kind, pubkeys[r.IntN(len(pubkeys))], createdAt, tags, strings.Repeat("lorem ipsum ", 17))
	e.Sig = RandomHex() + RandomHex()
	return e
}

// BenchPubkeys returns n random pubkeys.
func BenchPubkeys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = RandomHex()
	}
	return out
}

// BenchSave measures durable saves with 1, 16 and 64 concurrent writers,
// each on a new store from open.
func BenchSave(b *testing.B, open func(b *testing.B) eventstore.Store) {
	pks := BenchPubkeys(1000)
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := open(b)
			defer s.Close()
			r := rand.New(rand.NewPCG(1, uint64(writers)))
			evs := make([]*nostr.Event, b.N)
			for i := range evs {
				evs[i] = BenchEvent(r, pks, 1_700_000_000+int64(i))
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

// BenchQuery100k measures query latency (compile, run, decode, drain the
// channel) over 100k stored events: 1000 authors, kinds 1/7/30023, 100
// hashtags. It also reports the fill rate with 64 writers.
func BenchQuery100k(b *testing.B, open func(b *testing.B) eventstore.Store) {
	const n = 100_000
	s := open(b)
	defer s.Close()
	pks := BenchPubkeys(1000)
	r := rand.New(rand.NewPCG(7, 7))
	evs := make([]*nostr.Event, n)
	for i := range evs {
		evs[i] = BenchEvent(r, pks, 1_700_000_000+int64(r.IntN(30*86400)))
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
	start := time.Now()
	for _, e := range evs {
		fill <- e
	}
	close(fill)
	wg.Wait()
	b.Logf("filled %d events in %s (%.0f events/s, 64 writers)", n, time.Since(start), n/time.Since(start).Seconds())

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
