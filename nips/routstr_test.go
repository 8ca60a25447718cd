package nips_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// TestRoutstrAnnouncement: an inference offer's Routstr announcement is
// kind 38421 with the offer's d, a u per URL, a mint per Cashu payment
// (none for Lightning), the version, the offer's address and expiration,
// and Routstr's metadata JSON.
func TestRoutstrAnnouncement(t *testing.T) {
	o := nips.Offer{ID: "agentd-inference", Resource: nips.Inference, Pubkey: strings.Repeat("ab", 32), Expiration: 1_800_000_000,
		Prices:   nips.Prices{{Unit: nips.UnitMInputTokens, Msat: 1000}, {Unit: nips.UnitMOutputTokens, Msat: 2000}},
		Payments: []nips.Payment{{Method: nips.PayCashu, Mint: "http://127.0.0.1:3338", Unit: "sat"}, {Method: nips.PayLightning}}}
	ev := o.Routstr(1_700_000_000, []string{"http://127.0.0.1:8000", "http://x.onion"})
	if ev.Kind != 38421 {
		t.Fatalf("kind %d, want Routstr's 38421", ev.Kind)
	}
	want := []nostr.Tag{{"d", o.ID}, {"u", "http://127.0.0.1:8000"}, {"u", "http://x.onion"}, {"mint", "http://127.0.0.1:3338"},
		{"version", nips.RoutstrVersion}, {"a", o.Address()}, {"expiration", "1800000000"}}
	for _, w := range want {
		if !slices.ContainsFunc(ev.Tags, func(t nostr.Tag) bool { return slices.Equal(t, w) }) {
			t.Errorf("no tag %v in %v", w, ev.Tags)
		}
	}
	if n := len(ev.Tags.GetAll([]string{"mint"})); n != 1 {
		t.Errorf("%d mint tags, want 1 (Lightning has no mint)", n)
	}
	var meta map[string]string
	if err := json.Unmarshal([]byte(ev.Content), &meta); err != nil || meta["name"] == "" || meta["about"] == "" {
		t.Errorf("content %q: %v", ev.Content, err)
	}
}
