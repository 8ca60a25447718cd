package market

import (
	"math"
	"math/bits"

	"github.com/sovmesh/sovmesh/nips"
)

// StorageOp is what a storage step does with the bytes it is charged for.
type StorageOp int

// The charged storage operations.
const (
	// OpStore receives bytes and holds them for the session's duration:
	// the GiB-day price for the days (rounded up, at least one) plus the
	// GiB-upload price.
	OpStore StorageOp = iota
	// OpRetrieve serves stored bytes back: the GiB-retrieval price.
	OpRetrieve
)

// PerGiB returns the millisats one GiB of op costs under a storage offer's
// prices p (as nips parses them: every unit present) for a session of
// durationSec seconds, saturating at math.MaxUint64.
func PerGiB(p nips.Prices, durationSec uint64, op StorageOp) uint64 {
	if op == OpRetrieve {
		v, _ := p.Of(nips.UnitGiBRetrieval)
		return v
	}
	hold, _ := p.Of(nips.UnitGiBDay)
	up, _ := p.Of(nips.UnitGiBUpload)
	days := max((durationSec+86399)/86400, 1)
	hi, lo := bits.Mul64(hold, days)
	s, carry := bits.Add64(lo, up, 0)
	if hi != 0 || carry != 0 {
		return math.MaxUint64
	}
	return s
}

// StorageCharge is the one storage pricing function: what n bytes of op
// cost under prices p for a session of durationSec seconds, in charge
// units of 2^-30 millisat (so that a GiB costs exactly PerGiB millisats and
// no step rounds). Providers charge each step with it (agentd/metering),
// buyers cap what they pay with StorageCap, which calls it. It saturates at
// math.MaxUint64.
func StorageCharge(p nips.Prices, durationSec uint64, op StorageOp, n uint64) uint64 {
	hi, lo := bits.Mul64(n, PerGiB(p, durationSec, op))
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

// ChargeUnitsPerSat is the number of charge units in one sat.
const ChargeUnitsPerSat = 1000 << 30

// ChargeSats returns the sats n bytes of op cost (rounded up): what a quote
// states. It does not saturate.
func ChargeSats(p nips.Prices, durationSec uint64, op StorageOp, n uint64) uint64 {
	hi, lo := bits.Mul64(n, PerGiB(p, durationSec, op))
	// ceil((hi:lo) / (1000 * 2^30)): shift out 2^30 (rounding up), then
	// divide by 1000.
	up := lo&(1<<30-1) != 0
	lo = lo>>30 | hi<<34
	hi >>= 30
	if up {
		var c uint64
		lo, c = bits.Add64(lo, 1, 0)
		hi += c
	}
	if hi >= 1000 {
		return math.MaxUint64
	}
	q, r := bits.Div64(hi, lo, 1000)
	if r != 0 {
		q++
	}
	return q
}

// StorageCap returns the most a buyer pays one provider for n bytes of op
// paid in steps of at least step bytes with up to streams steps paid
// beyond what was used: the price of the bytes plus streams steps, each
// rounded up to a sat. (agentd's buyer passes 1: a provider's storage
// streams share one credit.) An
// honest provider charging StorageCharge for each request is never
// refused under it.
func StorageCap(p nips.Prices, durationSec uint64, op StorageOp, n, step uint64, streams int) uint64 {
	a, b := ChargeSats(p, durationSec, op, n), ChargeSats(p, durationSec, op, step)
	hi, extra := bits.Mul64(b, uint64(max(streams, 1)))
	total, carry := bits.Add64(a, extra, 0)
	if hi != 0 || carry != 0 {
		return math.MaxUint64
	}
	return total
}
