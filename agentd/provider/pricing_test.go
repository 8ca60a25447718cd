package provider

import "testing"

func TestPricingBounds(t *testing.T) {
	p := DefaultPricing(1000)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		price uint64
		load  float64
		want  uint64
	}{
		{"busy raises", 1000, 0.9, 1100},
		{"idle lowers", 1000, 0.0, 950},
		{"steady holds", 1000, 0.5, 1000},
		{"capped at max", 3900, 1, 4000},
		{"floored at min", 510, 0, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Next(tc.price, tc.load); got != tc.want {
				t.Fatalf("Next(%d, %v) = %d, want %d", tc.price, tc.load, got, tc.want)
			}
		})
	}
	// Sustained load converges to the bounds and stays there.
	price := p.Base
	for range 100 {
		price = p.Next(price, 1)
	}
	if price != p.Max {
		t.Fatalf("sustained load: %d", price)
	}
	for range 100 {
		price = p.Next(price, 0)
	}
	if price != p.Min {
		t.Fatalf("sustained idle: %d", price)
	}
	// A tiny price still rises.
	small := DefaultPricing(2)
	if got := small.Next(2, 1); got != 3 {
		t.Fatalf("small price: %d", got)
	}
	for _, bad := range []Pricing{{}, {Base: 10, Min: 20, Max: 30, Low: 0.1, High: 0.9, Up: 1.1, Down: 0.9}, {Base: 10, Min: 1, Max: 30, Low: 0.9, High: 0.1, Up: 1.1, Down: 0.9}} {
		if bad.Validate() == nil {
			t.Fatalf("%+v accepted", bad)
		}
	}
}

// TestPricingWhy: each step says why the price went as it did, for the
// dashboard.
func TestPricingWhy(t *testing.T) {
	p := DefaultPricing(1000)
	tests := []struct {
		name  string
		price uint64
		load  float64
		want  string
	}{
		{"busy raises", 1000, 0.9, "load 90% at or above 70%: raised 10%"},
		{"idle lowers", 1000, 0.1, "load 10% at or below 20%: lowered 5%"},
		{"steady holds", 1000, 0.5, "load 50% between 20% and 70%: held"},
		{"busy at the ceiling", 4000, 1, "load 100% at or above 70%, but already at the ceiling (4000 msat)"},
		{"idle at the floor", 500, 0, "load 0% at or below 20%, but already at the floor (500 msat)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMeter(p, 4)
			m.price = tc.price
			m.adjust(tc.load)
			last, changed := m.moves()
			if last.Why != tc.want || last.From != tc.price || last.To != p.Next(tc.price, tc.load) {
				t.Fatalf("step %+v, want %q", last, tc.want)
			}
			if moved := last.To != last.From; moved != !changed.At.IsZero() {
				t.Fatalf("last change %+v after step %+v", changed, last)
			}
		})
	}
}
