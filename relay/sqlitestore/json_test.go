package sqlitestore

import (
	"context"
	"strconv"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/storetest"
)

// TestQueryEventsJSON checks that QueryEventsJSON answers exactly what
// QueryEvents does, as the JSON nostr.Event.MarshalJSON writes, in the same
// order: by id, author, kind, one and several tag values (rows deduplicated),
// with and without limits.
func TestQueryEventsJSON(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	authors := []string{storetest.RandomHex(), storetest.RandomHex(), storetest.RandomHex()}
	var all []*nostr.Event
	for i := range 90 {
		tags := nostr.Tags{{"t", "tag" + strconv.Itoa(i%7)}, {"t", "tag" + strconv.Itoa(i%5)}}
		e := storetest.Event([]int{1, 7, 30023}[i%3], authors[i%3], 1_700_000_000+int64(i/4), tags, `<b>"note"</b> & \ `+strconv.Itoa(i)+" é")
		all = append(all, e)
	}
	storetest.SaveAll(t, s, all)
	ctx := context.Background()
	for _, f := range []nostr.Filter{
		{},
		{IDs: []string{all[3].ID, all[40].ID}},
		{Authors: []string{authors[1]}, Kinds: []int{7}, Limit: 5},
		{Kinds: []int{1, 30023}, Limit: 17},
		{Tags: nostr.TagMap{"t": {"tag1"}}, Limit: 4},
		{Tags: nostr.TagMap{"t": {"tag1", "tag2", "tag3"}}, Limit: 9},
		{Tags: nostr.TagMap{"t": {"tag1", "tag2"}}},
	} {
		evs, err := s.QueryEvents(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for e := range evs {
			b, err := e.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, string(b))
		}
		js, err := s.QueryEventsJSON(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for b := range js {
			got = append(got, string(b))
		}
		if len(got) != len(want) {
			t.Fatalf("%v: %d JSON events, %d events", f, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%v: event %d:\n json %s\nevent %s", f, i, got[i], want[i])
			}
		}
		if len(want) == 0 {
			t.Fatalf("%v matches nothing; the test wants answers", f)
		}
	}
}
