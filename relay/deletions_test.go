package relay

import (
	"testing"

	"github.com/nbd-wtf/go-nostr"
)

func TestDeletionIndexIsASupersetFilter(t *testing.T) {
	d := newDeletionIndex()
	d.add(&nostr.Event{Kind: 5, Tags: nostr.Tags{{"e", "aa"}, {"a", "30402:pk:x"}, {"p", "bb"}}})
	d.add(&nostr.Event{Kind: 1, Tags: nostr.Tags{{"e", "cc"}}}) // not a deletion
	since := nostr.Timestamp(5)
	tests := []struct {
		name string
		f    nostr.Filter
		want bool
	}{
		{"deleted id", nostr.Filter{Kinds: []int{5}, Tags: nostr.TagMap{"e": {"aa"}}}, true},
		{"unknown id", nostr.Filter{Kinds: []int{5}, Tags: nostr.TagMap{"e": {"zz"}}}, false},
		{"id only named by a non-deletion", nostr.Filter{Kinds: []int{5}, Tags: nostr.TagMap{"e": {"cc"}}}, false},
		{"deleted address with since", nostr.Filter{Kinds: []int{5}, Since: &since, Tags: nostr.TagMap{"a": {"30402:pk:x"}}}, true},
		{"unknown address", nostr.Filter{Kinds: []int{5}, Tags: nostr.TagMap{"a": {"30402:pk:y"}}}, false},
		{"p tag is not a target", nostr.Filter{Kinds: []int{5}, Tags: nostr.TagMap{"p": {"bb"}}}, true},
		{"other kinds go to the store", nostr.Filter{Kinds: []int{1}, Tags: nostr.TagMap{"e": {"zz"}}}, true},
		{"two values go to the store", nostr.Filter{Kinds: []int{5}, Tags: nostr.TagMap{"e": {"zz", "yy"}}}, true},
		{"with authors goes to the store", nostr.Filter{Kinds: []int{5}, Authors: []string{"pk"}, Tags: nostr.TagMap{"e": {"zz"}}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := d.mayMatch(tc.f); got != tc.want {
				t.Fatalf("mayMatch = %v, want %v", got, tc.want)
			}
		})
	}
}
