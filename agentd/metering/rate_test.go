package metering

import (
	"testing"

	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/nips"
)

func TestRate(t *testing.T) {
	store2000 := nips.Prices{{Unit: nips.UnitGiBDay, Msat: 2_000_000}, {Unit: nips.UnitGiBUpload, Msat: 0}, {Unit: nips.UnitGiBRetrieval, Msat: 2_000_000}}
	store1 := nips.Prices{{Unit: nips.UnitGiBDay, Msat: 1000}, {Unit: nips.UnitGiBUpload, Msat: 7000}, {Unit: nips.UnitGiBRetrieval, Msat: 5000}}
	tests := []struct {
		name  string
		r     nips.Resource
		p     nips.Prices
		dur   uint64
		units uint64
		sats  uint64
	}{
		{"storage 1 MiB at 2000 sat/GiB-day, 1 day", nips.Storage, store2000, 86400, StorageUnits(store2000, 86400, market.OpStore, 1<<20), 2},
		{"storage 1 GiB, 3 days (rounded up)", nips.Storage, store1, 2*86400 + 1, StorageUnits(store1, 2*86400+1, market.OpStore, 1<<30), 3 + 7},
		{"storage 1 GiB uploaded for a day", nips.Storage, store1, 86400, StorageUnits(store1, 86400, market.OpStore, 1<<30), 1 + 7},
		{"storage 3 GiB retrieved after 30 days", nips.Storage, store1, 30 * 86400, StorageUnits(store1, 30*86400, market.OpRetrieve, 3<<30), 3 * 5},
		{"bandwidth 1 byte at least 1 sat", nips.Bandwidth, nips.Prices{{Unit: nips.UnitMiB, Msat: 1000}}, 0, 1, 1},
		{"bandwidth 10 MiB", nips.Bandwidth, nips.Prices{{Unit: nips.UnitMiB, Msat: 1500}}, 0, 10 << 20, 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := RateFor(tc.r, tc.p, tc.dur)
			if err != nil {
				t.Fatal(err)
			}
			s := r.SatsFor(tc.units)
			if s != tc.sats {
				t.Fatalf("SatsFor = %d, want %d", s, tc.sats)
			}
			if got := r.UnitsFor(s); got < tc.units {
				t.Fatalf("UnitsFor(SatsFor(%d)) = %d: the step is short", tc.units, got)
			}
		})
	}
	if _, err := RateFor(nips.Storage, nips.Prices{{Unit: nips.UnitMiB, Msat: 1}}, 0); err == nil {
		t.Fatal("missing unit accepted")
	}
	if c := InferenceCost(nips.Prices{{Unit: nips.UnitMInputTokens, Msat: 1_000_000}, {Unit: nips.UnitMOutputTokens, Msat: 3_000_000}}, 10, 20); c != 70 {
		t.Fatalf("inference cost %d", c)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint64(1000), uint64(1<<20))
	f.Add(uint64(1<<40), uint64(21e17), uint64(1))
	f.Fuzz(func(t *testing.T, units, num, den uint64) {
		if num == 0 || den == 0 || units == 0 {
			return
		}
		r := Rate{Num: num, Den: den}
		s := r.SatsFor(units)
		if s == ^uint64(0) {
			return
		}
		if r.UnitsFor(s) < units {
			t.Fatalf("rate %d/%d: %d sats buy %d < %d units", num, den, s, r.UnitsFor(s), units)
		}
	})
}
