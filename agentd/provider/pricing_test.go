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
