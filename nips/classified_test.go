package nips_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

func TestClassified(t *testing.T) {
	pub := strings.Repeat("ab", 32)
	tests := []struct {
		name  string
		offer nips.Offer
		price nostr.Tag
	}{
		{"storage per GiB-day", nips.Offer{ID: "st", Resource: nips.Storage, Geohash: "u0yjj",
			Prices: nips.Prices{{Unit: nips.UnitGiBDay, Msat: 2500}, {Unit: nips.UnitGiBUpload, Msat: 1000}}},
			nostr.Tag{"price", "2.5", "SAT", "day"}},
		{"bandwidth per MiB", nips.Offer{ID: "bw", Resource: nips.Bandwidth, Prices: nips.Prices{{Unit: nips.UnitMiB, Msat: 1000}}},
			nostr.Tag{"price", "1", "SAT"}},
		{"inference per 1M tokens", nips.Offer{ID: "inf", Resource: nips.Inference, Prices: nips.Prices{{Unit: nips.UnitMOutputTokens, Msat: 123}}},
			nostr.Tag{"price", "0.123", "SAT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.offer
			o.Pubkey, o.Expiration = pub, 1_800_000_000
			evt := o.Classified(1_700_000_000)
			if evt.Kind != 30402 {
				t.Fatalf("kind %d, want NIP-99's 30402", evt.Kind)
			}
			want := []nostr.Tag{{"d", o.ID}, {"a", o.Address()}, {"t", string(o.Resource)}, {"expiration", "1800000000"},
				{"published_at", "1700000000"}, {"status", "active"}, tc.price}
			for _, w := range want {
				if !slices.ContainsFunc(evt.Tags, func(t nostr.Tag) bool { return slices.Equal(t, w) }) {
					t.Errorf("no tag %v in %v", w, evt.Tags)
				}
			}
			for _, name := range []string{"title", "summary"} {
				if tag := evt.Tags.GetFirst([]string{name}); tag == nil || len(*tag) < 2 || (*tag)[1] == "" {
					t.Errorf("no %s", name)
				}
			}
		})
	}
}

func TestDeletionToEvent(t *testing.T) {
	d := nips.Deletion{IDs: []string{"0000000000000000000000000000000000000000000000000000000000000001"},
		Addresses: []string{"38460:" + "00000000000000000000000000000000000000000000000000000000000000aa" + ":st"}}
	evt := d.ToEvent(1_700_000_000, "provider stopped")
	evt.PubKey = "00000000000000000000000000000000000000000000000000000000000000aa"
	got, err := nips.ParseDeletion(&evt)
	if err != nil || !slices.Equal(got.IDs, d.IDs) || !slices.Equal(got.Addresses, d.Addresses) || evt.Content != "provider stopped" {
		t.Fatalf("deletion %+v %v, want %+v", got, err, d)
	}
}
