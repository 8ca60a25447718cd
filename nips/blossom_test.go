package nips_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
)

// TestOfferBlossom: a storage offer carries its provider's Blossom server
// in a blossom tag; other offers and bad URLs are refused.
func TestOfferBlossom(t *testing.T) {
	parse := func(o nips.Offer) (nips.Offer, error) {
		ev := nipstest.Sign(o.ToEvent(o.Expiration-3600), nipstest.Provider)
		return nips.ParseOffer(&ev)
	}
	o := nipstest.StorageOffer()
	o.Blossom = "http://192.168.1.7:3000"
	got, err := parse(o)
	if err != nil || got.Blossom != o.Blossom {
		t.Fatalf("round trip: %q %v", got.Blossom, err)
	}
	for _, tc := range []struct{ name, url string }{
		{"not http", "ftp://x:1"},
		{"relative", "/upload"},
		{"query", "https://cdn.example.com/?a=1"},
		{"credentials", "https://u:p@cdn.example.com"},
		{"long", "https://" + strings.Repeat("a", 520) + ".com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o.Blossom = tc.url
			if _, err := parse(o); !errors.Is(err, nips.ErrBadValue) {
				t.Fatalf("accepted %q: %v", tc.url, err)
			}
		})
	}
	b := nipstest.BandwidthOffer()
	ev := b.ToEvent(b.Expiration - 3600)
	ev.Tags = append(ev.Tags, nostr.Tag{"blossom", "https://cdn.example.com"})
	ev = nipstest.Sign(ev, nipstest.Provider)
	if _, err := nips.ParseOffer(&ev); err == nil || !strings.Contains(err.Error(), "blossom") {
		t.Fatalf("bandwidth offer with a Blossom server: %v", err)
	}
}
