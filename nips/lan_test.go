package nips_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
)

// FuzzParseLANMessage: no input crashes the LAN message parser or the
// event check; what it accepts is within the bounds and encodes again.
func FuzzParseLANMessage(f *testing.F) {
	f.Add([]byte(`{"type":"REQ","filter":{"kinds":[38460],"limit":10}}`))
	f.Add([]byte(`{"type":"EVENT","event":{"id":"","pubkey":"","created_at":0,"kind":8460,"tags":[["expiration","x"]],"content":"","sig":""}}`))
	f.Add([]byte(`{"type":"OK","ok":true,"reason":"invalid: x"}`))
	f.Add([]byte(`{"type":"EVENTS","events":[null]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := nips.ParseLANMessage(b)
		if err != nil {
			if !errors.Is(err, nips.ErrLANMessage) {
				t.Fatalf("error %v is not ErrLANMessage", err)
			}
			return
		}
		if len(m.Events) > nips.MaxLANEvents {
			t.Fatalf("%d events accepted", len(m.Events))
		}
		now := time.Unix(1_700_000_000, 0)
		for _, ev := range append(m.Events, m.Event) {
			_ = nips.CheckLANEvent(ev, now)
		}
		if _, err := m.Encode(); err != nil && !strings.Contains(err.Error(), "bytes, limit") {
			t.Fatalf("accepted message does not encode: %v", err)
		}
	})
}

func TestParseLANMessage(t *testing.T) {
	many := `{"type":"EVENTS","events":[` + strings.Repeat(`{"kind":1},`, nips.MaxLANEvents) + `{"kind":1}]}`
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"req", `{"type":"REQ","filter":{"kinds":[38460]}}`, true},
		{"req without filter", `{"type":"REQ"}`, false},
		{"event without event", `{"type":"EVENT"}`, false},
		{"ok with events", `{"type":"OK","events":[]}`, false},
		{"unknown type", `{"type":"CLOSE"}`, false},
		{"too many events", many, false},
		{"huge filter", `{"type":"REQ","filter":{"kinds":[` + strings.Repeat("1,", 200) + `1]}}`, false},
		{"over the size", `{"type":"OK","reason":"` + strings.Repeat("a", nips.MaxLANMessage) + `"}`, false},
		{"not json", `["EVENT"]`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := nips.ParseLANMessage([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestCheckLANEvent(t *testing.T) {
	now := time.Now()
	bid := func(mut func(*nostr.Event)) *nostr.Event {
		ev := nips.Bid{Resource: nips.Storage, MaxPrices: nips.Prices{{Unit: nips.UnitGiBDay, Msat: 10}}, Quantity: 1, Duration: 86400,
			Payments:   []nips.Payment{{Method: nips.PayCashu, Mint: "http://127.0.0.1:3338", Unit: "sat"}},
			Expiration: nostr.Timestamp(now.Add(time.Hour).Unix())}.ToEvent(nostr.Timestamp(now.Unix()))
		if mut != nil {
			mut(&ev)
		}
		if err := ev.Sign(nipstest.Buyer.Secret); err != nil {
			t.Fatal(err)
		}
		return &ev
	}
	tampered := bid(nil)
	tampered.Content = "changed"
	tests := []struct {
		name   string
		ev     *nostr.Event
		prefix string // "" = accepted
	}{
		{"bid", bid(nil), ""},
		{"tampered", tampered, "invalid:"},
		{"not a LAN kind", bid(func(e *nostr.Event) { e.Kind = nips.KindReceipt }), "blocked:"},
		{"expired", bid(func(e *nostr.Event) {
			e.Tags = append(e.Tags.FilterOut([]string{"expiration"}), nostr.Tag{"expiration", strconv.FormatInt(now.Unix()-1, 10)})
		}), "invalid:"},
		{"future", bid(func(e *nostr.Event) { e.CreatedAt = nostr.Timestamp(now.Add(time.Hour).Unix()) }), "invalid:"},
		{"malformed bid", bid(func(e *nostr.Event) { e.Tags = nostr.Tags{} }), "invalid:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := nips.CheckLANEvent(tc.ev, now)
			if tc.prefix == "" && err != nil || tc.prefix != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.prefix)) {
				t.Fatalf("err %v, want prefix %q", err, tc.prefix)
			}
		})
	}
}
