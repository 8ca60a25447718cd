package storetest

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fiatjaf/eventstore"
	"github.com/nbd-wtf/go-nostr"
)

var (
	alice = strings.Repeat("a1", 32)
	bob   = strings.Repeat("b2", 32)
	carol = strings.Repeat("c3", 32)
)

// fixture is a small varied event set: three authors, several kinds,
// hashtags tag0..tag19, e and p references, equal timestamps.
func fixture() []*nostr.Event {
	var evs []*nostr.Event
	authors := []string{alice, bob, carol}
	kinds := []int{1, 7, 1, 30023, 5}
	for i := 0; i < 60; i++ {
		tags := nostr.Tags{{"t", "tag" + strconv.Itoa(i%20)}}
		if i%3 == 0 {
			tags = append(tags, nostr.Tag{"p", authors[(i+1)%3]})
		}
		if i%4 == 0 {
			tags = append(tags, nostr.Tag{"e", strings.Repeat(fmt.Sprintf("%02x", i%8), 32), "wss://x"})
		}
		if i%5 == 0 {
			tags = append(tags, nostr.Tag{"t", "extra"}, nostr.Tag{"alt", "an alt text"})
		}
		if i%7 == 0 {
			tags = append(tags, nostr.Tag{"T", "tag1"}) // other letter, same value
		}
		evs = append(evs, Event(kinds[i%len(kinds)], authors[i%3], 1_700_000_000+int64(i/2), tags, "note "+strconv.Itoa(i)))
	}
	return evs
}

func testFilters(t *testing.T, s eventstore.Store) {
	all := fixture()
	SaveAll(t, s, all)
	someID := all[10].ID
	otherID := all[33].ID
	base := int64(1_700_000_000)
	tests := []struct {
		name  string
		f     nostr.Filter
		atLst int // the brute-force answer has at least this many events (guards the table itself)
	}{
		{"empty filter", nostr.Filter{}, 60},
		{"one id", nostr.Filter{IDs: []string{someID}}, 1},
		{"two ids", nostr.Filter{IDs: []string{someID, otherID}}, 2},
		{"ids empty list matches nothing", nostr.Filter{IDs: []string{}}, 0},
		{"id not hex", nostr.Filter{IDs: []string{"zz", someID[:10]}}, 0},
		{"id uppercase", nostr.Filter{IDs: []string{strings.ToUpper(someID)}}, 0},
		{"id prefix is not a match", nostr.Filter{IDs: []string{someID[:63]}}, 0},
		{"author", nostr.Filter{Authors: []string{alice}}, 20},
		{"two authors", nostr.Filter{Authors: []string{alice, carol}}, 40},
		{"authors empty list", nostr.Filter{Authors: []string{}}, 0},
		{"kind", nostr.Filter{Kinds: []int{1}}, 24},
		{"kinds", nostr.Filter{Kinds: []int{7, 30023}}, 24},
		{"kinds empty list", nostr.Filter{Kinds: []int{}}, 0},
		{"kind absent", nostr.Filter{Kinds: []int{4}}, 0},
		{"author and kind", nostr.Filter{Authors: []string{bob}, Kinds: []int{1}}, 4},
		{"tag", nostr.Filter{Tags: nostr.TagMap{"t": {"tag1"}}}, 3},
		{"tag values OR", nostr.Filter{Tags: nostr.TagMap{"t": {"tag1", "tag2", "extra"}}}, 12},
		{"tag letter is case sensitive", nostr.Filter{Tags: nostr.TagMap{"T": {"tag1"}}}, 9},
		{"two tags AND", nostr.Filter{Tags: nostr.TagMap{"t": {"extra"}, "p": {bob}}}, 2},
		{"tag empty list", nostr.Filter{Tags: nostr.TagMap{"t": {}}}, 0},
		{"tag nil list matches all", nostr.Filter{Tags: nostr.TagMap{"t": nil}, Kinds: []int{7}}, 12},
		{"p tag and kind", nostr.Filter{Tags: nostr.TagMap{"p": {bob}}, Kinds: []int{5, 7}}, 2},
		{"e tag third element ignored", nostr.Filter{Tags: nostr.TagMap{"e": {strings.Repeat("00", 32)}}}, 2},
		{"e tag value with relay is no match", nostr.Filter{Tags: nostr.TagMap{"e": {"wss://x"}}}, 0},
		{"since inclusive", nostr.Filter{Since: ts(base + 25)}, 10},
		{"until inclusive", nostr.Filter{Until: ts(base + 3)}, 8},
		{"since and until", nostr.Filter{Since: ts(base + 10), Until: ts(base + 10)}, 2},
		{"since after until", nostr.Filter{Since: ts(base + 11), Until: ts(base + 10)}, 0},
		{"limit", nostr.Filter{Limit: 7}, 7},
		{"limit over size", nostr.Filter{Limit: 1000}, 60},
		{"negative limit is no limit", nostr.Filter{Limit: -1}, 60},
		{"tag limit", nostr.Filter{Tags: nostr.TagMap{"t": {"tag1", "tag3", "extra"}}, Limit: 5}, 5},
		{"kind 5 by e tag", nostr.Filter{Kinds: []int{5}, Tags: nostr.TagMap{"e": {strings.Repeat("04", 32)}}}, 1},
		{"author kind d", nostr.Filter{Kinds: []int{30023}, Authors: []string{carol}, Tags: nostr.TagMap{"t": {"tag3", "tag13"}}}, 1},
		{"everything", nostr.Filter{IDs: []string{someID, otherID}, Authors: []string{alice, bob}, Kinds: []int{1, 7, 30023, 5},
			Tags: nostr.TagMap{"t": {all[10].Tags[0][1], all[33].Tags[0][1]}}, Since: ts(base), Until: ts(base + 100), Limit: 10}, 1},
		{"search is ignored like Filter.Matches", nostr.Filter{Search: "note 1", Kinds: []int{7}}, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := Expected(all, tc.f, time.Now().Unix())
			if len(want) < tc.atLst || (tc.atLst == 0 && len(want) != 0) {
				t.Fatalf("fixture: brute force gives %d events, table expects at least %d", len(want), tc.atLst)
			}
			check(t, s, all, tc.name, tc.f)
		})
	}
}

// testTagExactness: "#t":["tag1"] must not select tag10..tag19, and with a
// limit the answer is not short even when those are newer.
func testTagExactness(t *testing.T, s eventstore.Store) {
	var all []*nostr.Event
	for i := 0; i < 10; i++ {
		all = append(all, Event(1, alice, 1000+int64(i), nostr.Tags{{"t", "tag1"}}, "old"))
	}
	for i := 0; i < 40; i++ {
		all = append(all, Event(1, alice, 2000+int64(i), nostr.Tags{{"t", "tag1" + strconv.Itoa(i%10)}, {"tag1", "tag1"}, {"x", "tag1x"}}, "new"))
	}
	SaveAll(t, s, all)
	for _, tc := range []struct {
		name string
		f    nostr.Filter
		want int
	}{
		{"no limit", nostr.Filter{Tags: nostr.TagMap{"t": {"tag1"}}}, 10},
		{"limit 5", nostr.Filter{Tags: nostr.TagMap{"t": {"tag1"}}, Limit: 5}, 5},
		{"limit 10", nostr.Filter{Tags: nostr.TagMap{"t": {"tag1"}}, Limit: 10}, 10},
		{"prefix", nostr.Filter{Tags: nostr.TagMap{"t": {"tag"}}}, 0},
		{"other letter", nostr.Filter{Tags: nostr.TagMap{"x": {"tag1"}}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Query(t, s, tc.f)
			if len(got) != tc.want {
				t.Fatalf("got %d events, want %d", len(got), tc.want)
			}
			for _, e := range got {
				if e.Content != "old" {
					t.Fatalf("selected %s tagged %v", e.ID, e.Tags)
				}
			}
			check(t, s, all, tc.name, tc.f)
		})
	}
}

func testOrder(t *testing.T, s eventstore.Store) {
	var all []*nostr.Event
	for i := 0; i < 30; i++ {
		// ten timestamps, three events each: ties broken by id ascending
		all = append(all, Event(1, bob, 500+int64(i%10), nostr.Tags{{"t", "x"}, {"p", alice}}, ""))
	}
	SaveAll(t, s, all)
	want := Expected(all, nostr.Filter{}, time.Now().Unix())
	if want[0].CreatedAt != 509 || want[0].ID > want[1].ID {
		t.Fatal("brute-force order is wrong")
	}
	for _, f := range []nostr.Filter{
		{}, {Limit: 4}, {Limit: 5}, {Kinds: []int{1}, Limit: 8}, {Authors: []string{bob}},
		{Authors: []string{bob}, Kinds: []int{1}, Limit: 11}, {Tags: nostr.TagMap{"t": {"x"}}, Limit: 7},
		{Tags: nostr.TagMap{"t": {"x", "y"}, "p": {alice}}, Limit: 13}, {IDs: []string{all[0].ID, all[10].ID, all[20].ID, all[1].ID}},
		{Until: ts(505), Limit: 4}, {Since: ts(505), Limit: 2},
	} {
		check(t, s, all, "order "+f.String(), f)
	}
}

func testNoLimit(t *testing.T, s eventstore.Store) {
	var all []*nostr.Event
	for i := 0; i < 700; i++ {
		all = append(all, Event(1+i%2, carol, 10_000+int64(i), nostr.Tags{{"t", "many"}}, ""))
	}
	SaveAll(t, s, all)
	for _, f := range []nostr.Filter{{}, {Kinds: []int{1, 2}}, {Tags: nostr.TagMap{"t": {"many"}}}, {Authors: []string{carol}}} {
		if got := Query(t, s, f); len(got) != 700 {
			t.Fatalf("%s: got %d events, want all 700", f, len(got))
		}
		check(t, s, all, "no limit "+f.String(), f)
	}
}

func testLargeLists(t *testing.T, s eventstore.Store) {
	var all []*nostr.Event
	var allIDs, authors, values []string
	for i := 0; i < 400; i++ {
		pk := RandomHex()
		e := Event(1, pk, 100+int64(i), nostr.Tags{{"e", RandomHex()}, {"t", "v" + strconv.Itoa(i)}}, "")
		all = append(all, e)
		if i%2 == 0 {
			allIDs = append(allIDs, e.ID)
			authors = append(authors, pk)
			values = append(values, "v"+strconv.Itoa(i))
		}
	}
	SaveAll(t, s, all)
	for i := 0; i < 100; i++ { // values that match nothing
		allIDs = append(allIDs, RandomHex())
		authors = append(authors, RandomHex())
		values = append(values, "none"+strconv.Itoa(i))
	}
	for _, tc := range []struct {
		name string
		f    nostr.Filter
	}{
		{"300 ids", nostr.Filter{IDs: allIDs}},
		{"300 authors", nostr.Filter{Authors: authors}},
		{"300 authors and kind limit", nostr.Filter{Authors: authors, Kinds: []int{1}, Limit: 50}},
		{"300 tag values", nostr.Filter{Tags: nostr.TagMap{"t": values}}},
		{"300 tag values limit", nostr.Filter{Tags: nostr.TagMap{"t": values}, Limit: 30}},
		{"ids and authors", nostr.Filter{IDs: allIDs, Authors: authors[:150]}},
	} {
		check(t, s, all, tc.name, tc.f)
		if got := Query(t, s, tc.f); len(got) == 0 {
			t.Fatalf("%s: no events", tc.name)
		}
	}
}

func testDuplicates(t *testing.T, s eventstore.Store) {
	e := Event(1, alice, 100, nostr.Tags{{"t", "dup"}}, "x")
	if err := s.SaveEvent(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	copyE := *e
	if err := s.SaveEvent(t.Context(), &copyE); !isDup(err) {
		t.Fatalf("second save: %v, want ErrDupEvent", err)
	}
	r := Event(0, alice, 100, nil, "{}")
	if err := s.ReplaceEvent(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceEvent(t.Context(), r); !isDup(err) {
		t.Fatalf("second replace: %v, want ErrDupEvent", err)
	}
	check(t, s, []*nostr.Event{e, r}, "after duplicates", nostr.Filter{})
	check(t, s, []*nostr.Event{e, r}, "after duplicates, tag", nostr.Filter{Tags: nostr.TagMap{"t": {"dup"}}})
}

func testDelete(t *testing.T, s eventstore.Store) {
	a := Event(1, alice, 100, nostr.Tags{{"t", "gone"}, {"e", RandomHex()}}, "a")
	b := Event(1, alice, 101, nostr.Tags{{"t", "gone"}}, "b")
	SaveAll(t, s, []*nostr.Event{a, b})
	if err := s.DeleteEvent(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEvent(t.Context(), a); err != nil {
		t.Fatalf("deleting a deleted event: %v", err)
	}
	left := []*nostr.Event{b}
	check(t, s, left, "all", nostr.Filter{})
	check(t, s, left, "by id", nostr.Filter{IDs: []string{a.ID}})
	check(t, s, left, "by its tag", nostr.Filter{Tags: nostr.TagMap{"e": {a.Tags[1][1]}}})
	check(t, s, left, "by shared tag", nostr.Filter{Tags: nostr.TagMap{"t": {"gone"}}})
	// a deleted id can be saved again
	if err := s.SaveEvent(t.Context(), a); err != nil {
		t.Fatalf("save after delete: %v", err)
	}
	check(t, s, []*nostr.Event{a, b}, "saved again", nostr.Filter{Tags: nostr.TagMap{"t": {"gone"}}})
}

// replaceTest runs one ordered sequence of ReplaceEvent calls and checks
// which event of the key is stored at the end.
func replaceSeq(t *testing.T, s eventstore.Store, seq []*nostr.Event, winner *nostr.Event, f nostr.Filter) {
	t.Helper()
	for i, e := range seq {
		err := s.ReplaceEvent(t.Context(), e)
		beats := true
		for _, prev := range seq[:i] {
			if prev.CreatedAt > e.CreatedAt || (prev.CreatedAt == e.CreatedAt && prev.ID < e.ID) {
				beats = false
			}
		}
		if beats && err != nil {
			t.Fatalf("replace %d (created_at %d): %v", i, e.CreatedAt, err)
		}
		if !beats && err == nil {
			t.Fatalf("replace %d (created_at %d) with a winning version stored returned nil; want an error", i, e.CreatedAt)
		}
		if !beats && isDup(err) {
			t.Fatalf("replace %d with a winning version stored returned ErrDupEvent; want a distinct error", i)
		}
	}
	Same(t, "winner", Query(t, s, f), []*nostr.Event{winner})
	if n, ok := count(t, s, f); ok && n != 1 {
		t.Fatalf("count %d, want 1", n)
	}
}

func idPair(lowFirst bool) (string, string) {
	a, b := RandomHex(), RandomHex()
	if (a > b) == lowFirst {
		a, b = b, a
	}
	return a, b
}

func testReplaceable(t *testing.T, s eventstore.Store) {
	for _, kind := range []int{0, 3, 10002} {
		t.Run(fmt.Sprint("kind ", kind), func(t *testing.T) {
			pk := RandomHex()
			f := nostr.Filter{Kinds: []int{kind}, Authors: []string{pk}}
			v1 := Event(kind, pk, 100, nil, "v1")
			v2 := Event(kind, pk, 200, nil, "v2")
			v0 := Event(kind, pk, 50, nil, "v0")
			replaceSeq(t, s, []*nostr.Event{v1, v2, v0}, v2, f)

			// equal created_at: the lowest id wins, whichever comes first
			low, high := idPair(true)
			a := Event(kind, pk, 300, nil, "high")
			a.ID = high
			b := Event(kind, pk, 300, nil, "low")
			b.ID = low
			replaceSeq(t, s, []*nostr.Event{a, b}, b, f)
			// a higher id at the same created_at loses to the stored one
			c := Event(kind, pk, 300, nil, "higher")
			c.ID = strings.Repeat("f", 64)
			if err := s.ReplaceEvent(t.Context(), c); err == nil || isDup(err) {
				t.Fatalf("replace with a higher id at the same created_at: %v, want an error other than ErrDupEvent", err)
			}
			Same(t, "after higher id", Query(t, s, f), []*nostr.Event{b})
		})
	}
	t.Run("other authors and kinds untouched", func(t *testing.T) {
		pk1, pk2 := RandomHex(), RandomHex()
		evs := []*nostr.Event{Event(0, pk1, 10, nil, ""), Event(0, pk2, 20, nil, ""), Event(3, pk1, 30, nil, "")}
		for _, e := range evs {
			if err := s.ReplaceEvent(t.Context(), e); err != nil {
				t.Fatal(err)
			}
		}
		f := nostr.Filter{Authors: []string{pk1, pk2}}
		check(t, s, evs, "all three", f)
	})
}

func testAddressable(t *testing.T, s eventstore.Store) {
	pk := RandomHex()
	f := func(d string) nostr.Filter {
		return nostr.Filter{Kinds: []int{30023}, Authors: []string{pk}, Tags: nostr.TagMap{"d": {d}}}
	}
	a1 := Event(30023, pk, 100, nostr.Tags{{"d", "a"}}, "a1")
	b1 := Event(30023, pk, 150, nostr.Tags{{"d", "b"}}, "b1")
	a2 := Event(30023, pk, 200, nostr.Tags{{"d", "a"}, {"t", "x"}}, "a2")
	a0 := Event(30023, pk, 50, nostr.Tags{{"d", "a"}}, "a0")
	replaceSeq(t, s, []*nostr.Event{a1, a2, a0}, a2, f("a"))
	replaceSeq(t, s, []*nostr.Event{b1}, b1, f("b"))
	// no d tag is the same address as d ""
	n1 := Event(30023, pk, 100, nil, "none")
	n2 := Event(30023, pk, 110, nostr.Tags{{"d", ""}}, "empty")
	replaceSeq(t, s, []*nostr.Event{n1, n2}, n2, f(""))
	// same d, other kind or author: separate addresses
	other := Event(30024, pk, 10, nostr.Tags{{"d", "a"}}, "other kind")
	otherPK := Event(30023, RandomHex(), 10, nostr.Tags{{"d", "a"}}, "other author")
	for _, e := range []*nostr.Event{other, otherPK} {
		if err := s.ReplaceEvent(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	check(t, s, []*nostr.Event{a2, b1, n2, other, otherPK}, "all addresses", nostr.Filter{Tags: nostr.TagMap{"d": {"a", "b", ""}}})
	check(t, s, []*nostr.Event{a2}, "old version's tag is gone", nostr.Filter{Tags: nostr.TagMap{"t": {"x"}}})
	// khatru's NIP-09 "a" lookup: kind, author, d, until
	check(t, s, []*nostr.Event{a2, b1, n2}, "deletion lookup", nostr.Filter{Kinds: []int{30023}, Authors: []string{pk}, Tags: nostr.TagMap{"d": {"a"}}, Until: ts(250)})
	check(t, s, []*nostr.Event{a2, b1, n2}, "deletion lookup before", nostr.Filter{Kinds: []int{30023}, Authors: []string{pk}, Tags: nostr.TagMap{"d": {"a"}}, Until: ts(199)})
}

func testExpiration(t *testing.T, s eventstore.Store) {
	now := time.Now().Unix()
	past := strconv.FormatInt(now-10, 10)
	future := strconv.FormatInt(now+3600, 10)
	all := []*nostr.Event{
		Event(1, alice, now-100, nostr.Tags{{"expiration", past}, {"t", "exp"}}, "expired"),
		Event(1, alice, now-90, nostr.Tags{{"expiration", future}, {"t", "exp"}}, "live"),
		Event(1, alice, now-80, nostr.Tags{{"expiration", "soon"}, {"t", "exp"}}, "bad tag: never expires"),
		Event(30000, alice, now-70, nostr.Tags{{"d", "x"}, {"expiration", past}, {"t", "exp"}}, "expired addressable"),
		Event(1, bob, now-60, nostr.Tags{{"t", "exp"}}, "no tag"),
	}
	SaveAll(t, s, all)
	for _, f := range []nostr.Filter{
		{}, {IDs: []string{all[0].ID, all[1].ID}}, {Authors: []string{alice}}, {Kinds: []int{1}},
		{Tags: nostr.TagMap{"t": {"exp"}}}, {Tags: nostr.TagMap{"t": {"exp"}}, Limit: 1}, {Kinds: []int{30000}},
	} {
		got := Query(t, s, f)
		for _, e := range got {
			if Expired(e, now) {
				t.Fatalf("%s: served expired event %s", f, e.Content)
			}
		}
		check(t, s, all, "expiration "+f.String(), f)
	}
	if got := Query(t, s, nostr.Filter{}); len(got) != 3 {
		t.Fatalf("got %d events, want 3 unexpired", len(got))
	}
}

// testMultiLetterTag: a store either refuses filters on tag names longer than
// one letter (NIP-01 indexes single letters only) or answers them exactly.
func testMultiLetterTag(t *testing.T, s eventstore.Store) {
	all := []*nostr.Event{
		Event(1, alice, 10, nostr.Tags{{"alt", "x"}}, ""),
		Event(1, alice, 11, nostr.Tags{{"a", "x"}}, ""),
	}
	SaveAll(t, s, all)
	f := nostr.Filter{Tags: nostr.TagMap{"alt": {"x"}}}
	got, err := tryQuery(t.Context(), s, f)
	if err != nil {
		t.Logf("refused: %v", err)
		return
	}
	Same(t, "multi-letter tag", got, Expected(all, f, time.Now().Unix()))
	// an empty list matches nothing whatever the name
	check(t, s, all, "empty multi-letter", nostr.Filter{Tags: nostr.TagMap{"alt": {}}})
}

func testCancel(t *testing.T, s eventstore.Store) {
	var all []*nostr.Event
	for i := 0; i < 2000; i++ {
		all = append(all, Event(1, alice, int64(i), nil, ""))
	}
	SaveAll(t, s, all)
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := s.QueryEvents(ctx, nostr.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	cancel()
	n := 1
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				if n >= len(all) {
					t.Fatalf("query delivered all %d events after cancel", n)
				}
				return
			}
			n++
		case <-deadline:
			t.Fatal("channel not closed 10 s after cancel")
		}
	}
}

// testRandomized compares random filters with brute force over random events
// drawn from small alphabets, so filters often match.
func testRandomized(t *testing.T, s eventstore.Store) {
	r := mrand.New(mrand.NewPCG(1, uint64(time.Now().UnixNano())))
	authors := []string{alice, bob, carol, RandomHex()}
	kinds := []int{0, 1, 3, 5, 7, 1984, 30023}
	letters := []string{"e", "p", "t", "d", "a", "k"}
	values := []string{"", "v1", "v10", "v2", "V1", alice, bob}
	now := time.Now().Unix()
	var all []*nostr.Event
	for i := 0; i < 400; i++ {
		var tags nostr.Tags
		for j := r.IntN(4); j > 0; j-- {
			tags = append(tags, nostr.Tag{pick(r, letters), pick(r, values)})
		}
		if r.IntN(10) == 0 {
			tags = append(tags, nostr.Tag{"t"}) // one-element tag: matches nothing
		}
		if r.IntN(15) == 0 {
			tags = append(tags, nostr.Tag{"expiration", strconv.FormatInt(now+int64(r.IntN(2))*7200-3600, 10)})
		}
		all = append(all, Event(pick(r, kinds), pick(r, authors), 1000+int64(r.IntN(60)), tags, ""))
	}
	SaveAll(t, s, all)
	someIDs := func() []string {
		var out []string
		for j := r.IntN(4); j > 0; j-- {
			out = append(out, all[r.IntN(len(all))].ID)
		}
		return out
	}
	for i := 0; i < 300; i++ {
		var f nostr.Filter
		if r.IntN(6) == 0 {
			f.IDs = someIDs()
		}
		if r.IntN(3) == 0 {
			for j := r.IntN(3); j >= 0; j-- {
				f.Authors = append(f.Authors, pick(r, authors))
			}
		}
		if r.IntN(2) == 0 {
			for j := r.IntN(3); j >= 0; j-- {
				f.Kinds = append(f.Kinds, pick(r, kinds))
			}
		}
		if r.IntN(2) == 0 {
			f.Tags = nostr.TagMap{}
			for j := r.IntN(2); j >= 0; j-- {
				l := pick(r, letters)
				for k := r.IntN(3); k >= 0; k-- {
					f.Tags[l] = append(f.Tags[l], pick(r, values))
				}
			}
		}
		if r.IntN(3) == 0 {
			f.Since = ts(1000 + int64(r.IntN(60)))
		}
		if r.IntN(3) == 0 {
			f.Until = ts(1000 + int64(r.IntN(60)))
		}
		if r.IntN(2) == 0 {
			f.Limit = 1 + r.IntN(30)
		}
		check(t, s, all, fmt.Sprintf("random %d %s", i, f), f)
	}
}
