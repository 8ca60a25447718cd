package nips_test

import (
	"testing"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
)

// TestBidMaxFill: max_fill caps each fill of an open bid (a storage bid for
// N replicas of S units: quantity N*S, min_fill = max_fill = S); it round
// trips, and a bid without it may be filled whole.
func TestBidMaxFill(t *testing.T) {
	tests := []struct {
		name             string
		quantity, minF   uint64
		maxF, wantCap    uint64
		wantTag, wantMin bool
	}{
		{name: "replicas", quantity: 6, minF: 2, maxF: 2, wantCap: 2, wantTag: true, wantMin: true},
		{name: "cap above min", quantity: 10, minF: 1, maxF: 4, wantCap: 4, wantTag: true},
		{name: "cap is the quantity", quantity: 3, minF: 1, maxF: 3, wantCap: 3, wantTag: true},
		{name: "no cap", quantity: 5, minF: 1, maxF: 0, wantCap: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := nipstest.OpenBid()
			b.Resource, b.Duration = nips.Storage, 86400
			b.MaxPrices = nipstest.StorageBid().MaxPrices
			b.Quantity, b.MinFill, b.MaxFill = tc.quantity, tc.minF, tc.maxF
			ev := nipstest.Sign(b.ToEvent(nipstest.Time), nipstest.Buyer)
			if got := ev.Tags.Find("max_fill") != nil; got != tc.wantTag {
				t.Fatalf("max_fill tag written: %v, want %v (%v)", got, tc.wantTag, ev.Tags)
			}
			got, err := nips.ParseBid(&ev)
			if err != nil {
				t.Fatal(err)
			}
			if got.MaxFill != tc.maxF || got.MinFill != tc.minF || got.FillCap() != tc.wantCap {
				t.Fatalf("parsed min_fill %d max_fill %d cap %d, want %d %d %d", got.MinFill, got.MaxFill, got.FillCap(), tc.minF, tc.maxF, tc.wantCap)
			}
		})
	}
}
