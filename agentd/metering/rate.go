// Package metering turns market prices into payment steps: the provider's
// transport.PaymentGate that redeems Cashu tokens into units of service, the
// buyer's transport.Payer that pays each step with an exact-amount token,
// and the conversion between units (bytes) and millisats both sides share.
package metering

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/nips"
)

// ErrNoPrice means a session's prices lack the unit a resource needs.
var ErrNoPrice = errors.New("metering: no price for the resource")

// Rate is a price per transport unit as the fraction Num/Den millisats.
type Rate struct {
	Num, Den uint64
}

// RateFor returns the rate of a storage or bandwidth session's units:
// storage counts market.StorageCharge units (2^-30 msat: what a step of
// bytes costs depends on whether it is stored or read back, see
// StorageUnits); bandwidth the MiB price per 2^20 bytes.
func RateFor(r nips.Resource, p nips.Prices, durationSec uint64) (Rate, error) {
	switch r {
	case nips.Storage:
		if _, ok := p.Of(nips.UnitGiBDay); !ok {
			return Rate{}, ErrNoPrice
		}
		return Rate{Num: 1, Den: 1 << 30}, nil
	case nips.Bandwidth:
		msat, ok := p.Of(nips.UnitMiB)
		if !ok {
			return Rate{}, ErrNoPrice
		}
		return Rate{Num: msat, Den: 1 << 20}, nil
	}
	return Rate{}, fmt.Errorf("%w: %s is not metered per byte", ErrNoPrice, r)
}

// SatsFor returns the sats that buy units (rounded up, at least 1).
func (r Rate) SatsFor(units uint64) uint64 {
	// ceil(units * Num / (1000 * Den))
	n := new(big.Int).Mul(new(big.Int).SetUint64(units), new(big.Int).SetUint64(r.Num))
	d := new(big.Int).Mul(big.NewInt(1000), new(big.Int).SetUint64(max(r.Den, 1)))
	n.Add(n, new(big.Int).Sub(d, big.NewInt(1)))
	n.Quo(n, d)
	if !n.IsUint64() {
		return ^uint64(0)
	}
	return max(n.Uint64(), 1)
}

// UnitsFor returns the units sats buy (rounded down). A free rate buys
// unlimited units.
func (r Rate) UnitsFor(sats uint64) uint64 {
	if r.Num == 0 {
		return ^uint64(0)
	}
	n := new(big.Int).Mul(new(big.Int).SetUint64(sats), big.NewInt(1000))
	n.Mul(n, new(big.Int).SetUint64(r.Den))
	n.Quo(n, new(big.Int).SetUint64(r.Num))
	if !n.IsUint64() {
		return ^uint64(0)
	}
	return n.Uint64()
}

// MsatFor returns the millisats units cost (rounded up).
func (r Rate) MsatFor(units uint64) uint64 {
	n := new(big.Int).Mul(new(big.Int).SetUint64(units), new(big.Int).SetUint64(r.Num))
	d := new(big.Int).SetUint64(max(r.Den, 1))
	n.Add(n, new(big.Int).Sub(d, big.NewInt(1)))
	n.Quo(n, d)
	if !n.IsUint64() {
		return ^uint64(0)
	}
	return n.Uint64()
}

// InferenceCost returns the millisats of a completion: prompt and
// completion tokens at their prices per million, rounded up.
func InferenceCost(p nips.Prices, prompt, completion uint64) uint64 {
	in, _ := p.Of(nips.UnitMInputTokens)
	out, _ := p.Of(nips.UnitMOutputTokens)
	n := new(big.Int).Mul(new(big.Int).SetUint64(prompt), new(big.Int).SetUint64(in))
	n.Add(n, new(big.Int).Mul(new(big.Int).SetUint64(completion), new(big.Int).SetUint64(out)))
	n.Add(n, big.NewInt(999_999))
	n.Quo(n, big.NewInt(1_000_000))
	if !n.IsUint64() {
		return ^uint64(0)
	}
	return n.Uint64()
}

// MsatToSats rounds millisats up to sats.
func MsatToSats(msat uint64) uint64 { return (msat + 999) / 1000 }

// StorageUnits returns what n bytes of op cost a storage session at prices
// p for durationSec, in the units RateFor gives storage: the provider's
// charge (Gate) and the buyer's steps and caps come from the same
// market.StorageCharge.
func StorageUnits(p nips.Prices, durationSec uint64, op market.StorageOp, n uint64) uint64 {
	return market.StorageCharge(p, durationSec, op, n)
}
