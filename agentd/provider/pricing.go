package provider

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Pricing is a dynamic price: it rises with load and falls when idle,
// within the operator's bounds. Every adjustment, a load at or above High
// multiplies the price by Up, a load at or below Low by Down; between
// them the price holds. The price never leaves [Min, Max].
type Pricing struct {
	Base, Min, Max uint64  // msat per unit of the resource's price
	Low, High      float64 // load thresholds, 0-1
	Up, Down       float64 // factors (> 1 and < 1)
}

// DefaultPricing returns bounds around base: [base/2, base*4], raise 10 %
// at >= 70 % load, lower 5 % at <= 20 %.
func DefaultPricing(base uint64) Pricing {
	return Pricing{Base: base, Min: max(base/2, 1), Max: base * 4, Low: 0.2, High: 0.7, Up: 1.10, Down: 0.95}
}

// Validate checks the bounds.
func (p Pricing) Validate() error {
	if p.Base == 0 {
		return errors.New("pricing: base price is 0")
	}
	if p.Min > p.Base || p.Base > p.Max {
		return fmt.Errorf("pricing: want min (%d) <= base (%d) <= max (%d)", p.Min, p.Base, p.Max)
	}
	if p.Low < 0 || p.High > 1 || p.Low >= p.High {
		return fmt.Errorf("pricing: want 0 <= low (%v) < high (%v) <= 1", p.Low, p.High)
	}
	if p.Up < 1 || p.Down > 1 || p.Down <= 0 {
		return fmt.Errorf("pricing: want up (%v) >= 1 and 0 < down (%v) <= 1", p.Up, p.Down)
	}
	return nil
}

// Next returns the price after one adjustment at load (0-1).
func (p Pricing) Next(price uint64, load float64) uint64 {
	f := 1.0
	switch {
	case load >= p.High:
		f = p.Up
	case load <= p.Low:
		f = p.Down
	}
	next := math.Round(float64(price) * f)
	if f > 1 && next == float64(price) {
		next++ // small prices still move
	}
	if next > float64(p.Max) {
		return p.Max
	}
	if next < float64(p.Min) {
		return p.Min
	}
	return uint64(next)
}

// Move is a pricing step and why it went as it did.
type Move struct {
	At       time.Time
	From, To uint64  // msat
	Load     float64 // 0-1, the load it followed
	Why      string  // e.g. "load 85% at or above 70%: raised 10%"
}

// why explains the step from price to next at load.
func (p Pricing) why(price, next uint64, load float64) string {
	pct := func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }
	switch {
	case load >= p.High && next == price:
		return fmt.Sprintf("load %s at or above %s, but already at the ceiling (%d msat)", pct(load), pct(p.High), p.Max)
	case load >= p.High:
		return fmt.Sprintf("load %s at or above %s: raised %s", pct(load), pct(p.High), pct(p.Up-1))
	case load <= p.Low && next == price:
		return fmt.Sprintf("load %s at or below %s, but already at the floor (%d msat)", pct(load), pct(p.Low), p.Min)
	case load <= p.Low:
		return fmt.Sprintf("load %s at or below %s: lowered %s", pct(load), pct(p.Low), pct(1-p.Down))
	}
	return fmt.Sprintf("load %s between %s and %s: held", pct(load), pct(p.Low), pct(p.High))
}

// meter tracks one resource's load and price.
type meter struct {
	mu      sync.Mutex
	pricing Pricing
	price   uint64
	active  int
	limit   int // concurrent sessions at full load
	// last is the last step; changed the last one that moved the price.
	last, changed Move
}

func newMeter(p Pricing, limit int) *meter {
	return &meter{pricing: p, price: p.Base, limit: max(limit, 1)}
}

func (m *meter) current() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.price
}

func (m *meter) begin() {
	m.mu.Lock()
	m.active++
	m.mu.Unlock()
}

func (m *meter) end() {
	m.mu.Lock()
	m.active = max(m.active-1, 0)
	m.mu.Unlock()
}

// load returns the active sessions as a fraction of the limit, or extra
// (e.g. storage used / quota) if that is larger.
func (m *meter) load(extra float64) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return min(max(float64(m.active)/float64(m.limit), extra), 1)
}

// adjust moves the price one step for load and reports a change.
func (m *meter) adjust(load float64) (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := m.pricing.Next(m.price, load)
	changed := next != m.price
	m.last = Move{At: time.Now(), From: m.price, To: next, Load: load, Why: m.pricing.why(m.price, next, load)}
	if changed {
		m.changed = m.last
	}
	m.price = next
	return next, changed
}

// moves returns the last step and the last that changed the price (zero
// At: none yet).
func (m *meter) moves() (last, changed Move) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last, m.changed
}
