package sqlitestore

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/fiatjaf/eventstore"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/storetest"
)

func openBench(b *testing.B) eventstore.Store {
	s, _ := openTemp(b)
	return s
}

// BenchmarkSaveEvent measures durable saves (each returns after its group's
// fsync) with 1, 16 and 64 concurrent writers.
func BenchmarkSaveEvent(b *testing.B) { storetest.BenchSave(b, openBench) }

// BenchmarkQuery100k: see storetest.BenchQuery100k.
func BenchmarkQuery100k(b *testing.B) { storetest.BenchQuery100k(b, openBench) }

// BenchmarkCountUnion measures the COUNT a client floods with in
// bench/attack's count-flood: every stored event, as two overlapping
// filters, over 5,000 events.
func BenchmarkCountUnion(b *testing.B) {
	const n = 5000
	s, _ := openTemp(b)
	defer s.Close()
	pks := storetest.BenchPubkeys(100)
	r := rand.New(rand.NewPCG(7, 7))
	for range n {
		if err := s.SaveEvent(b.Context(), storetest.BenchEvent(r, pks, 1_700_000_000+int64(r.IntN(86400)))); err != nil {
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

// BenchmarkNegentropyOpen measures the read of a NEG-OPEN over every one
// of 5,000 stored events (bench/attack's neg-open-flood): as khatru did it
// (QueryEvents, each event read and decoded) and as the relay does it
// (QueryIDs, the created_at and id from an index).
func BenchmarkNegentropyOpen(b *testing.B) {
	const n = 5000
	s, _ := openTemp(b)
	defer s.Close()
	pks := storetest.BenchPubkeys(100)
	r := rand.New(rand.NewPCG(7, 7))
	for range n {
		if err := s.SaveEvent(b.Context(), storetest.BenchEvent(r, pks, 1_700_000_000+int64(r.IntN(86400)))); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("QueryEvents", func(b *testing.B) {
		for b.Loop() {
			ch, err := s.QueryEvents(b.Context(), nostr.Filter{})
			if err != nil {
				b.Fatal(err)
			}
			got := 0
			for evt := range ch {
				_, _ = evt.CreatedAt, evt.ID
				got++
			}
			if got != n {
				b.Fatalf("read %d of %d", got, n)
			}
		}
	})
	b.Run("QueryIDs", func(b *testing.B) {
		for b.Loop() {
			got, err := s.QueryIDs(b.Context(), nostr.Filter{}, func(nostr.Timestamp, string) {})
			if err != nil {
				b.Fatal(err)
			}
			if got != n {
				b.Fatalf("read %d of %d", got, n)
			}
		}
	})
}

// BenchmarkDiskPerEvent stores 30k benchmark events (storetest.BenchEvent,
// about 1 KB of JSON each) and reports the database file's size per event
// after Close (WAL checkpointed). b.N does not matter. relay/pgstore has
// the same benchmark.
func BenchmarkDiskPerEvent(b *testing.B) {
	const n = 30_000
	s, path := openTemp(b)
	pks := storetest.BenchPubkeys(1000)
	r := rand.New(rand.NewPCG(3, 3))
	evs := make([]*nostr.Event, n)
	for i := range evs {
		evs[i] = storetest.BenchEvent(r, pks, 1_700_000_000+int64(r.IntN(30*86400)))
	}
	storetest.SaveAll(b, s, evs)
	s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
	}
	b.ReportMetric(float64(fi.Size())/n, "bytes/event")
}
