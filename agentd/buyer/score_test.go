package buyer

import (
	"math"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd/state"
)

// TestScoreRanksPriceTrustLatencyFailures: the ranking weighs price,
// trust, latency and the failure record as its doc says, so a cheap but
// slow, failing or unknown provider can lose to a dearer one.
func TestScoreRanksPriceTrustLatencyFailures(t *testing.T) {
	base := score(1000, 0, 0, state.ProviderStat{})
	tests := []struct {
		name  string
		price uint64
		rank  int
		lat   time.Duration
		st    state.ProviderStat
		want  float64 // as a multiple of base
	}{
		{"the price alone", 1000, 0, 0, state.ProviderStat{}, 1},
		{"twice the price", 2000, 0, 0, state.ProviderStat{}, 2},
		{"rank 100 counts at half price", 1000, 100, 0, state.ProviderStat{}, 0.5},
		{"200 ms doubles it", 1000, 0, 200 * time.Millisecond, state.ProviderStat{}, 2},
		{"every call failed: up to x5", 1000, 0, 0, state.ProviderStat{Failed: 99}, 1 + 4*99.0/100},
		{"a clean record changes nothing", 1000, 0, 0, state.ProviderStat{OK: 50}, 1},
		{"free is not zero", 0, 0, 0, state.ProviderStat{}, 0.001},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := score(tc.price, tc.rank, tc.lat, tc.st) / base
			if math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("score = %v x base, want %v", got, tc.want)
			}
		})
	}
	// Orderings that matter when choosing.
	trustedDearer := score(1500, 100, 5*time.Millisecond, state.ProviderStat{OK: 10})
	unknownCheaper := score(1000, 0, 5*time.Millisecond, state.ProviderStat{})
	if trustedDearer >= unknownCheaper {
		t.Errorf("a trusted provider at 1.5x the price should rank above an unknown one: %v >= %v", trustedDearer, unknownCheaper)
	}
	nearDearer := score(1200, 0, 2*time.Millisecond, state.ProviderStat{})
	farCheaper := score(1000, 0, 300*time.Millisecond, state.ProviderStat{})
	if nearDearer >= farCheaper {
		t.Errorf("a near provider at 1.2x should rank above one 300 ms away: %v >= %v", nearDearer, farCheaper)
	}
}
