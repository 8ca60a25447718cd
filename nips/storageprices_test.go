package nips_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
)

// TestStoragePriceDefaults: a storage offer or bid may leave out the upload
// and retrieval prices (offers from before they existed do); parsing fills
// in upload 0 and retrieval at the GiB-day price. Other resources take no
// storage units.
func signed(evt nostr.Event, k nipstest.Key) *nostr.Event {
	e := nipstest.Sign(evt, k)
	return &e
}

func TestStoragePriceDefaults(t *testing.T) {
	tests := []struct {
		name   string
		prices nips.Prices
		want   nips.Prices
	}{
		{"holding only (old offer)", nips.Prices{{Unit: nips.UnitGiBDay, Msat: 2000}},
			nips.Prices{{Unit: nips.UnitGiBDay, Msat: 2000}, {Unit: nips.UnitGiBUpload, Msat: 0}, {Unit: nips.UnitGiBRetrieval, Msat: 2000}}},
		{"retrieval given", nips.Prices{{Unit: nips.UnitGiBRetrieval, Msat: 7}, {Unit: nips.UnitGiBDay, Msat: 2000}},
			nips.Prices{{Unit: nips.UnitGiBDay, Msat: 2000}, {Unit: nips.UnitGiBUpload, Msat: 0}, {Unit: nips.UnitGiBRetrieval, Msat: 7}}},
		{"all three", nips.Prices{{Unit: nips.UnitGiBDay, Msat: 1}, {Unit: nips.UnitGiBUpload, Msat: 2}, {Unit: nips.UnitGiBRetrieval, Msat: 3}},
			nips.Prices{{Unit: nips.UnitGiBDay, Msat: 1}, {Unit: nips.UnitGiBUpload, Msat: 2}, {Unit: nips.UnitGiBRetrieval, Msat: 3}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := nipstest.StorageOffer()
			o.Prices = tc.prices
			got, err := nips.ParseOffer(signed(o.ToEvent(nipstest.Time), nipstest.Provider))
			if err != nil {
				t.Fatalf("parse offer: %v", err)
			}
			if !reflect.DeepEqual(got.Prices, tc.want) {
				t.Fatalf("offer prices %v, want %v", got.Prices, tc.want)
			}
			b := nipstest.StorageBid()
			b.MaxPrices = tc.prices
			gb, err := nips.ParseBid(signed(b.ToEvent(nipstest.Time), nipstest.Buyer))
			if err != nil {
				t.Fatalf("parse bid: %v", err)
			}
			if !reflect.DeepEqual(gb.MaxPrices, tc.want) {
				t.Fatalf("bid prices %v, want %v", gb.MaxPrices, tc.want)
			}
		})
	}
	t.Run("upload alone is not enough", func(t *testing.T) {
		o := nipstest.StorageOffer()
		o.Prices = nips.Prices{{Unit: nips.UnitGiBUpload, Msat: 5}}
		if _, err := nips.ParseOffer(signed(o.ToEvent(nipstest.Time), nipstest.Provider)); !errors.Is(err, nips.ErrMissingTag) {
			t.Fatalf("offer without a GiB-day price: %v, want ErrMissingTag", err)
		}
	})
	t.Run("bandwidth has no storage units", func(t *testing.T) {
		o := nipstest.BandwidthOffer()
		o.Prices = append(o.Prices, nips.Price{Unit: nips.UnitGiBRetrieval, Msat: 1})
		if _, err := nips.ParseOffer(signed(o.ToEvent(nipstest.Time), nipstest.Provider)); !errors.Is(err, nips.ErrBadValue) {
			t.Fatalf("bandwidth offer with a retrieval price: %v, want ErrBadValue", err)
		}
	})
}
