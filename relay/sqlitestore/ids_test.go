package sqlitestore

import (
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/storetest"
)

// TestQueryIDs checks that QueryIDs passes exactly the created_at and id of
// what QueryEvents answers, in the same order, expired events left out, for
// filters driven by each index and by tags (rows deduplicated), with and
// without limits; and that its statements read only indexes.
func TestQueryIDs(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	authors := []string{storetest.RandomHex(), storetest.RandomHex(), storetest.RandomHex()}
	var all []*nostr.Event
	for i := range 90 {
		tags := nostr.Tags{{"t", "tag" + strconv.Itoa(i%7)}, {"t", "tag" + strconv.Itoa(i%5)}}
		if i%9 == 0 { // expired (NIP-40): never returned
			tags = append(tags, nostr.Tag{"expiration", strconv.FormatInt(time.Now().Unix()-10, 10)})
		}
		all = append(all, storetest.Event([]int{1, 7, 30023}[i%3], authors[i%3], 1_700_000_000+int64(i/4), tags, strconv.Itoa(i)))
	}
	storetest.SaveAll(t, s, all)
	tests := []struct {
		name string
		f    nostr.Filter
	}{
		{"everything", nostr.Filter{}},
		{"ids", nostr.Filter{IDs: []string{all[3].ID, all[40].ID, all[9].ID}}},
		{"author kind limit", nostr.Filter{Authors: []string{authors[1]}, Kinds: []int{7}, Limit: 5}},
		{"authors", nostr.Filter{Authors: []string{authors[0], authors[2]}}},
		{"kinds limit", nostr.Filter{Kinds: []int{1, 30023}, Limit: 17}},
		{"since until", nostr.Filter{Since: ts(1_700_000_005), Until: ts(1_700_000_015)}},
		{"one tag limit", nostr.Filter{Tags: nostr.TagMap{"t": {"tag1"}}, Limit: 4}},
		{"tag values limit", nostr.Filter{Tags: nostr.TagMap{"t": {"tag1", "tag2", "tag3"}}, Limit: 9}},
		{"tag values", nostr.Filter{Tags: nostr.TagMap{"t": {"tag1", "tag2"}}}},
		{"two tags and kind", nostr.Filter{Kinds: []int{1}, Tags: nostr.TagMap{"t": {"tag1", "tag3"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, e := range storetest.Query(t, s, tc.f) {
				want = append(want, strconv.FormatInt(int64(e.CreatedAt), 10)+" "+e.ID)
			}
			if len(want) == 0 {
				t.Fatal("the filter matches nothing; the test wants answers")
			}
			var got []string
			n, err := s.QueryIDs(t.Context(), tc.f, func(createdAt nostr.Timestamp, id string) {
				got = append(got, strconv.FormatInt(int64(createdAt), 10)+" "+id)
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != len(got) {
				t.Fatalf("returned %d, passed %d", n, len(got))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}

	// NEG-OPEN's usual filters walk an index and never the events' rows
	// (where each event's JSON is).
	for _, f := range []nostr.Filter{{}, {Kinds: []int{1}}, {Authors: []string{authors[0]}}, {Since: ts(1_700_000_005)}} {
		p, err := compile(f, 0, selectIDs)
		if err != nil {
			t.Fatal(err)
		}
		plan := explain(t, s, p)
		if !strings.Contains(plan, "COVERING INDEX") || strings.Contains(plan, "TEMP B-TREE") {
			t.Fatalf("%v: plan reads rows or sorts:\n%s", f, plan)
		}
	}
}

func ts(v int64) *nostr.Timestamp { t := nostr.Timestamp(v); return &t }

// TestQueryIDsYields checks that a long QueryIDs (a NEG-OPEN's read) lets
// other goroutines run while it reads: with one processor, a goroutine
// started at its first row must run within the next two yields' worth of
// rows, not only when Go preempts the read after 10 ms or when it ends.
func TestQueryIDsYields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s, _ := openTemp(t)
	defer s.Close()
	pk := storetest.RandomHex()
	evts := make([]*nostr.Event, 6*yieldRows)
	for i := range evts {
		evts[i] = storetest.Event(1, pk, 1_700_000_000+int64(i), nil, strconv.Itoa(i))
	}
	storetest.SaveAll(t, s, evts)
	var rows, ranAt atomic.Int64
	ranAt.Store(-1)
	n, err := s.QueryIDs(t.Context(), nostr.Filter{Kinds: []int{1}}, func(nostr.Timestamp, string) {
		if rows.Add(1) == 1 {
			go func() { ranAt.Store(rows.Load()) }()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(evts) {
		t.Fatalf("read %d ids, want %d", n, len(evts))
	}
	if at := ranAt.Load(); at < 0 || at > 2*yieldRows {
		t.Fatalf("the other goroutine ran at row %d of %d; want by row %d", at, n, 2*yieldRows)
	}
}
