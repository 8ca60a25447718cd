package nips_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

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

// TestParseRoutstr: our own announcement parses back to what it says; a
// routstr-core announcement (d, u, mint, version, metadata; no expiration)
// parses; hostile or malformed ones fail with the sentinel naming why,
// and content that is not a metadata object is read as none.
func TestParseRoutstr(t *testing.T) {
	pub := strings.Repeat("ab", 32)
	o := nips.Offer{ID: "agentd-inference", Resource: nips.Inference, Pubkey: pub, Expiration: 1_800_000_000,
		Payments: []nips.Payment{{Method: nips.PayCashu, Mint: "http://127.0.0.1:3338", Unit: "sat"}}}
	own := o.Routstr(1_700_000_000, []string{"http://127.0.0.1:8000/"})
	own.PubKey = pub
	r, err := nips.ParseRoutstr(&own)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != o.ID || !slices.Equal(r.URLs, []string{"http://127.0.0.1:8000"}) || !slices.Equal(r.Mints, []string{"http://127.0.0.1:3338"}) ||
		r.Version != nips.RoutstrVersion || r.Expiration != o.Expiration || r.Name == "" || r.Address() != "38421:"+pub+":"+o.ID {
		t.Fatalf("own announcement parsed as %+v", r)
	}
	off := r.Offer([]string{"m"}, nips.Prices{{Unit: nips.UnitMInputTokens, Msat: 5}})
	if off.Resource != nips.Inference || len(off.Endpoints) != 0 || len(off.Payments) != 1 || off.Payments[0].Mint != "http://127.0.0.1:3338" || off.Pubkey != pub {
		t.Fatalf("as an offer: %+v", off)
	}
	core := func(tags nostr.Tags, content string) *nostr.Event {
		return &nostr.Event{Kind: nips.KindRoutstr, PubKey: pub, CreatedAt: 1_700_000_000, Tags: tags, Content: content}
	}
	base := nostr.Tags{{"d", "abcdef012345"}, {"u", "https://api.example.com"}, {"u", "http://x.onion"}, {"mint", "https://mint.example.com/Bitcoin/"}, {"version", "0.2.1"}}
	r, err = nips.ParseRoutstr(core(base, `{"name":"Routstr Proxy","about":"Privacy-preserving AI proxy via Nostr"}`))
	if err != nil || r.Name != "Routstr Proxy" || len(r.URLs) != 2 || r.Mints[0] != "https://mint.example.com/Bitcoin" || r.Expiration != 0 {
		t.Fatalf("routstr-core announcement: %+v %v", r, err)
	}
	for _, content := range []string{"", "not json", `["a"]`, `{"name":7,"about":{"x":1}}`, `{"name":"` + strings.Repeat("é", 1000) + `"}`} {
		r, err := nips.ParseRoutstr(core(base, content))
		if err != nil || len(r.Name) > nips.MaxTextLen || (content != "" && strings.Contains(content, "é") && !utf8.ValidString(r.Name)) {
			t.Fatalf("content %.40q: %+v %v", content, r, err)
		}
	}
	many := nostr.Tags{{"d", "x"}}
	for i := range nips.MaxListLen + 1 {
		many = append(many, nostr.Tag{"u", "https://h" + strconv.Itoa(i) + ".example"})
	}
	for _, tc := range []struct {
		name string
		tags nostr.Tags
		kind int
		want error
	}{
		{"wrong kind", base, 38420, nips.ErrWrongKind},
		{"no d", nostr.Tags{{"u", "https://a.example"}}, 0, nips.ErrMissingTag},
		{"empty d", nostr.Tags{{"d", ""}, {"u", "https://a.example"}}, 0, nips.ErrBadValue},
		{"two d", nostr.Tags{{"d", "a"}, {"d", "b"}, {"u", "https://a.example"}}, 0, nips.ErrDuplicateTag},
		{"no u", nostr.Tags{{"d", "a"}}, 0, nips.ErrMissingTag},
		{"u not http", nostr.Tags{{"d", "a"}, {"u", "ftp://a.example"}}, 0, nips.ErrBadValue},
		{"u javascript", nostr.Tags{{"d", "a"}, {"u", "javascript:alert(1)"}}, 0, nips.ErrBadValue},
		{"u with credentials", nostr.Tags{{"d", "a"}, {"u", "https://user:pw@a.example"}}, 0, nips.ErrBadValue},
		{"u with query", nostr.Tags{{"d", "a"}, {"u", "https://a.example/?x=1"}}, 0, nips.ErrBadValue},
		{"u twice", nostr.Tags{{"d", "a"}, {"u", "https://a.example"}, {"u", "https://a.example/"}}, 0, nips.ErrDuplicateTag},
		{"u too long", nostr.Tags{{"d", "a"}, {"u", "https://a.example/" + strings.Repeat("x", 600)}}, 0, nips.ErrBadValue},
		{"too many u", many, 0, nips.ErrOutOfRange},
		{"mint plain http", nostr.Tags{{"d", "a"}, {"u", "https://a.example"}, {"mint", "http://mint.example.com"}}, 0, nips.ErrBadValue},
		{"bare tag", nostr.Tags{{"d", "a"}, {"u"}}, 0, nips.ErrBadValue},
		{"empty tag", nostr.Tags{{"d", "a"}, {}}, 0, nips.ErrBadValue},
		{"bad expiration", nostr.Tags{{"d", "a"}, {"u", "https://a.example"}, {"expiration", "-1"}}, 0, nips.ErrBadValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := core(tc.tags, "")
			if tc.kind != 0 {
				ev.Kind = tc.kind
			}
			if _, err := nips.ParseRoutstr(ev); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
