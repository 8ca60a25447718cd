package khatru

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/nbd-wtf/go-nostr"
)

// BenchmarkNotifyListeners publishes an event that matches none of n idle
// subscriptions (each on another kind): with the index its cost does not
// grow with n.
func BenchmarkNotifyListeners(b *testing.B) {
	for _, n := range []int{0, 1000, 20000} {
		b.Run(fmt.Sprintf("idle=%d", n), func(b *testing.B) {
			rl := NewRelay()
			ws := &WebSocket{}
			rl.clients[ws] = nil
			_, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			for i := range n {
				rl.addListener(ws, strconv.Itoa(i), rl, nostr.Filter{Kinds: []int{1000 + i}}, cancel)
			}
			evt := &nostr.Event{Kind: 1, PubKey: "aa", ID: "bb", Tags: nostr.Tags{{"p", "cc"}}}
			b.ResetTimer()
			for range b.N {
				if rl.notifyListeners(evt) != 0 {
					b.Fatal("an idle subscription matched")
				}
			}
		})
	}
}

// TestListenerIndexMatchesAsFilters checks that the index finds exactly the
// listeners whose filter matches, over random filters and events.
func TestListenerIndexMatchesAsFilters(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	pick := func(vals []string) []string {
		switch rnd.IntN(4) {
		case 0:
			return nil
		case 1:
			return []string{} // matches nothing
		default:
			var out []string
			for range 1 + rnd.IntN(3) {
				out = append(out, vals[rnd.IntN(len(vals))])
			}
			return out
		}
	}
	ids := []string{"i1", "i2", "i3"}
	authors := []string{"a1", "a2", "a3"}
	values := []string{"v1", "v2", "v3", "v4"}
	x := newListenerIndex()
	var all []*listener
	for i := range 3000 {
		f := nostr.Filter{IDs: pick(ids), Authors: pick(authors)}
		if rnd.IntN(2) == 0 {
			f.Kinds = []int{rnd.IntN(4)}
			if rnd.IntN(3) == 0 {
				f.Kinds = append(f.Kinds, rnd.IntN(4))
			}
		}
		if rnd.IntN(2) == 0 {
			f.Tags = nostr.TagMap{}
			for _, name := range []string{"e", "p", "t"} {
				if rnd.IntN(2) == 0 {
					f.Tags[name] = pick(values)
				}
			}
		}
		if rnd.IntN(5) == 0 {
			s := nostr.Timestamp(rnd.IntN(10))
			f.Since = &s
		}
		l := &listener{id: strconv.Itoa(i), filter: f}
		x.add(l)
		all = append(all, l)
	}
	// drop some again, as CLOSE does
	for _, l := range all[:500] {
		x.remove(l)
	}
	live := all[500:]
	for i := range 2000 {
		evt := &nostr.Event{
			ID:        ids[rnd.IntN(len(ids))],
			PubKey:    authors[rnd.IntN(len(authors))],
			Kind:      rnd.IntN(4),
			CreatedAt: nostr.Timestamp(rnd.IntN(10)),
		}
		for range rnd.IntN(5) {
			evt.Tags = append(evt.Tags, nostr.Tag{[]string{"e", "p", "t", "x"}[rnd.IntN(4)], values[rnd.IntN(len(values))]})
		}
		var want, got []string
		for _, l := range live {
			if l.filter.Matches(evt) {
				want = append(want, l.id)
			}
		}
		for _, l := range x.matching(evt) {
			got = append(got, l.id)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Fatalf("event %d %+v: index found %v, filters match %v", i, evt, got, want)
		}
	}
}
