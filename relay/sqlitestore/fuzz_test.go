package sqlitestore

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/storetest"
)

// fuzzEvents is the fixed event set FuzzQuery searches: few authors, kinds
// and timestamps, single- and multi-letter tags, odd values and expirations.
func fuzzEvents() []*nostr.Event {
	pks := []string{strings.Repeat("01", 32), strings.Repeat("ab", 32), strings.Repeat("ff", 32)}
	kinds := []int{0, 1, 5, 7, 30023, 10002}
	vals := []string{"", "a", "tag1", "tag10", "TAG1", "with space", "ü", "\x00", strings.Repeat("01", 32)}
	var evs []*nostr.Event
	for i := 0; i < 48; i++ {
		tags := nostr.Tags{
			{"t", vals[i%len(vals)]},
			{string(rune('a' + i%5)), vals[(i*7)%len(vals)], "extra"},
		}
		if i%6 == 0 {
			tags = append(tags, nostr.Tag{"alt", vals[i%3]}, nostr.Tag{"p"})
		}
		if i%11 == 0 {
			tags = append(tags, nostr.Tag{"expiration", strconv.Itoa(1000 + i)}) // long past
		}
		if i%13 == 0 {
			tags = append(tags, nostr.Tag{"expiration", "4000000000"})
		}
		e := storetest.Event(kinds[i%len(kinds)], pks[i%len(pks)], int64(100+i%9), tags, strconv.Itoa(i))
		e.ID = strings.Repeat(strconv.Itoa(i%10), 2) + e.ID[2:] // ids predictable by prefix digit
		evs = append(evs, e)
	}
	return evs
}

// FuzzQuery: any filter JSON that go-nostr parses compiles to SQL that runs,
// and the answer (and count) equals brute-force Filter.Matches over the event
// set. The only refusal is ErrUnsupportedFilter, for a tag name longer than
// one byte with values.
func FuzzQuery(f *testing.F) {
	evs := fuzzEvents()
	for _, seed := range []string{
		`{}`, `{"ids":[]}`, `{"limit":3}`, `{"kinds":[1,7],"limit":2}`, `{"#t":["tag1"]}`, `{"#t":["tag1","a"],"limit":1}`,
		`{"authors":["` + evs[0].PubKey + `"],"kinds":[0]}`, `{"ids":["` + evs[3].ID + `","zz"]}`,
		`{"#alt":["a"]}`, `{"#alt":[]}`, `{"since":103,"until":105}`, `{"#a":["tag1"],"#t":[""]}`,
		`{"kinds":[5],"#e":["x"]}`, `{"limit":-5,"search":"x"}`, `{"kinds":[-1,9223372036854775807]}`,
	} {
		f.Add([]byte(seed))
	}
	s, err := New(filepath.Join(f.TempDir(), "fuzz.db"), WithLogger(quietLog()), WithPurgeInterval(0))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	storetest.SaveAll(f, s, evs)

	f.Fuzz(func(t *testing.T, data []byte) {
		var filter nostr.Filter
		if err := filter.UnmarshalJSON(data); err != nil {
			return
		}
		unsupported := false
		for k, v := range filter.Tags {
			if len(k) != 1 && len(v) > 0 {
				unsupported = true
			}
		}
		ch, err := s.QueryEvents(t.Context(), filter)
		if unsupported {
			if !errors.Is(err, ErrUnsupportedFilter) {
				t.Fatalf("%s: err %v, want ErrUnsupportedFilter", data, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		var got []*nostr.Event
		for e := range ch {
			got = append(got, e)
		}
		now := time.Now().Unix()
		storetest.Same(t, string(data), got, storetest.Expected(evs, filter, now))
		n, err := s.CountEvents(t.Context(), filter)
		if err != nil {
			t.Fatalf("count %s: %v", data, err)
		}
		all := filter
		all.Limit = 0
		if want := len(storetest.Expected(evs, all, now)); n != int64(want) {
			t.Fatalf("count %s: %d, want %d", data, n, want)
		}
	})
}
