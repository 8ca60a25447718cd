package buyer

import (
	"testing"

	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/nips"
)

// TestStepFor (issue 13, point 7): a provider's share of a large file is
// paid in eight steps (each a mint swap on the provider's side), a small
// share in steps of at least the configured least; the buyer's cap stays
// the stated price plus one step.
func TestStepFor(t *testing.T) {
	const MiB, GiB = 1 << 20, 1 << 30
	const least = 8 * MiB
	tests := []struct {
		name  string
		share uint64
		want  uint64
	}{
		{"empty share", 0, 0},
		{"below the least", 4 * MiB, 4 * MiB},
		{"the least", least, least},
		{"eight of the least", 8 * least, least},
		{"just over eight of the least", 8*least + 8, least + 1},
		{"256 MiB", 256 * MiB, 32 * MiB},
		{"1 GiB and four chunks", GiB + 4*(4*MiB+28), (GiB + 4*(4*MiB+28)) / 8},
		{"1 TiB", 1 << 40, 1 << 37},
	}
	prices := nips.Prices{{Unit: nips.UnitGiBDay, Msat: 1}, {Unit: nips.UnitGiBUpload, Msat: 7_000}, {Unit: nips.UnitGiBRetrieval, Msat: 13_337}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := stepFor(least, tt.share)
			if got != tt.want {
				t.Fatalf("stepFor(%d, %d) = %d, want %d", least, tt.share, got, tt.want)
			}
			if tt.share == 0 {
				return
			}
			if steps := (tt.share + got - 1) / got; steps > 8 {
				t.Fatalf("%d steps for a share of %d", steps, tt.share)
			}
			capSats := market.StorageCap(prices, 86400, market.OpStore, tt.share, got, stepsAhead)
			price, step := market.ChargeSats(prices, 86400, market.OpStore, tt.share), market.ChargeSats(prices, 86400, market.OpStore, got)
			if capSats > price+step {
				t.Fatalf("cap %d sats, over the price %d plus one step %d", capSats, price, step)
			}
		})
	}
}
