package khatru

import (
	"encoding/json"
	"testing"

	"github.com/nbd-wtf/go-nostr/nip77"
)

// TestNegMessage: negMessage writes what go-nostr's MessageEnvelope
// marshals to (sovmesh patch 0009), escaping the subscription id.
func TestNegMessage(t *testing.T) {
	for _, tc := range []struct{ name, id, msg string }{
		{"plain", "sync", "6100000200"},
		{"empty message", "s", ""},
		{"quote and backslash in id", `a"b\c`, "61"},
		{"control and unicode in id", "t\u0001é<", "6100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := negMessage(tc.id, tc.msg)
			want, err := json.Marshal(nip77.MessageEnvelope{SubscriptionID: tc.id, Message: tc.msg})
			if err != nil {
				t.Fatal(err)
			}
			var g, w []string
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("%s is not JSON: %v", got, err)
			}
			if err := json.Unmarshal(want, &w); err != nil {
				t.Fatal(err)
			}
			if len(g) != 3 || g[0] != w[0] || g[1] != w[1] || g[2] != w[2] {
				t.Fatalf("negMessage = %s, want %s", got, want)
			}
			env := nip77.ParseNegMessage(string(got))
			if m, ok := env.(*nip77.MessageEnvelope); !ok || m.SubscriptionID != tc.id || m.Message != tc.msg {
				t.Fatalf("ParseNegMessage(%s) = %#v", got, env)
			}
		})
	}
}
