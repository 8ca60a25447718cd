package eventsql

import (
	"bytes"
	"testing"
)

// TestAgainst: the newest version wins; on equal created_at, the lowest id.
func TestAgainst(t *testing.T) {
	id := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	r := &Row{ID: id(5), CreatedAt: 100}
	tests := []struct {
		name string
		ts   int64
		id   []byte
		want Version
	}{
		{"same event", 100, id(5), SameEvent},
		{"later", 101, id(9), Newer},
		{"tie, lower id", 100, id(4), Newer},
		{"tie, higher id", 100, id(6), Older},
		{"earlier", 99, id(1), Older},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Against(tc.ts, tc.id); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}
