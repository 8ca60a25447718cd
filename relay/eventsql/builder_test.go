package eventsql

import (
	"reflect"
	"testing"

	"github.com/nbd-wtf/go-nostr"
)

// TestBuilderPlaceholders: each dialect's style numbers (or not) the
// parameters in the order they are bound, and integers stay inline.
func TestBuilderPlaceholders(t *testing.T) {
	since, until := nostr.Timestamp(5), nostr.Timestamp(9)
	f, empty, err := Normalize(nostr.Filter{Kinds: []int{7, 1, 7}, Since: &since, Until: &until})
	if err != nil || empty {
		t.Fatalf("normalize: %v, empty %v", err, empty)
	}
	tests := []struct {
		name  string
		style Placeholder
		want  string
	}{
		{"question", Question, "x = ? AND e.kind IN (1, 7) AND e.created_at >= ? AND e.created_at <= ?"},
		{"dollar", Dollar, "x = $1 AND e.kind IN (1, 7) AND e.created_at >= $2 AND e.created_at <= $3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder(tc.style)
			b.W("x = ")
			b.Arg("v")
			b.KindTime("e", f)
			if b.SQL() != tc.want {
				t.Fatalf("sql %q, want %q", b.SQL(), tc.want)
			}
			if want := []any{"v", int64(5), int64(9)}; !reflect.DeepEqual(b.Args(), want) {
				t.Fatalf("args %#v, want %#v", b.Args(), want)
			}
		})
	}
}
