package pgstore_test

import (
	"math/rand/v2"
	"testing"

	"github.com/fiatjaf/eventstore"
	"github.com/jackc/pgx/v5"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/pgtest"
	"github.com/sovmesh/sovmesh/relay/pgstore"
	"github.com/sovmesh/sovmesh/relay/storetest"
)

// The same benchmarks as relay/sqlitestore's. pgtest's cluster runs with
// fsync on when benchmarks run, so saves are durable as SQLite's are.
func openBench(b *testing.B) eventstore.Store { return open(b) }

func BenchmarkSaveEvent(b *testing.B) { storetest.BenchSave(b, openBench) }

func BenchmarkQuery100k(b *testing.B) { storetest.BenchQuery100k(b, openBench) }

// BenchmarkDiskPerEvent stores 30k benchmark events (storetest.BenchEvent,
// about 1 KB of JSON each) and reports the tables' and indexes' size per
// event. b.N does not matter.
func BenchmarkDiskPerEvent(b *testing.B) {
	const n = 30_000
	url := pgtest.DB(b)
	s, err := pgstore.New(b.Context(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pks := storetest.BenchPubkeys(1000)
	r := rand.New(rand.NewPCG(3, 3))
	evs := make([]*nostr.Event, n)
	for i := range evs {
		evs[i] = storetest.BenchEvent(r, pks, 1_700_000_000+int64(r.IntN(30*86400)))
	}
	storetest.SaveAll(b, s, evs)
	conn, err := pgx.Connect(b.Context(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(b.Context())
	var events, tags, eventsIdx, tagsIdx int64
	if err := conn.QueryRow(b.Context(), `SELECT pg_table_size('events'), pg_table_size('tags'),
		pg_indexes_size('events'), pg_indexes_size('tags')`).Scan(&events, &tags, &eventsIdx, &tagsIdx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
	}
	b.ReportMetric(float64(events+tags+eventsIdx+tagsIdx)/n, "bytes/event")
	b.ReportMetric(float64(events+tags)/n, "table-bytes/event")
	b.ReportMetric(float64(eventsIdx+tagsIdx)/n, "index-bytes/event")
}
