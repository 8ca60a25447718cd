package market_test

import (
	"fmt"
	"math/big"
	"testing"

	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/nips"
)

// statedSats is what n bytes cost at perGiB msat per GiB, in sats rounded
// up, computed with big rationals (independently of market's arithmetic).
func statedSats(perGiB, n uint64) *big.Int {
	r := new(big.Rat).SetFrac(new(big.Int).Mul(new(big.Int).SetUint64(perGiB), new(big.Int).SetUint64(n)), big.NewInt(1000<<30))
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if new(big.Rat).SetInt(q).Cmp(r) < 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

// payAll plays an honest provider charging market.StorageCharge for each
// request of at most req bytes, round-robin over streams meters, against
// a buyer paying at each pause point at least step bytes (as
// metering.Payer does) under a cap of limit sats. It returns the sats
// paid, or an error when a step would pass the cap.
func payAll(p nips.Prices, dur uint64, op market.StorageOp, n, req, step uint64, streams int, limit uint64) (uint64, error) {
	left := make([]uint64, streams) // charge units paid for and not used yet, per stream
	stepUnits := market.StorageCharge(p, dur, op, step)
	var paid uint64
	for i := 0; n > 0; i++ {
		b := min(req, n)
		n -= b
		s := i % streams
		c := market.StorageCharge(p, dur, op, b)
		if c > left[s] {
			need := c - left[s]
			units := max(need, stepUnits, 1)
			sats := (units + market.ChargeUnitsPerSat - 1) / market.ChargeUnitsPerSat
			if paid+sats > limit {
				needSats := (need + market.ChargeUnitsPerSat - 1) / market.ChargeUnitsPerSat
				if paid+needSats > limit {
					return paid, fmt.Errorf("refused at %d bytes left: paid %d of %d, step needs %d", n, paid, limit, needSats)
				}
				sats = limit - paid
			}
			paid += sats
			left[s] += sats * market.ChargeUnitsPerSat
		}
		left[s] -= c
	}
	return paid, nil
}

func TestStorageCap(t *testing.T) {
	const GiB, TiB = 1 << 30, 1 << 40
	old := nips.Prices{{Unit: nips.UnitGiBDay, Msat: 2000}, {Unit: nips.UnitGiBUpload, Msat: 0}, {Unit: nips.UnitGiBRetrieval, Msat: 2000}}
	priced := nips.Prices{{Unit: nips.UnitGiBDay, Msat: 1}, {Unit: nips.UnitGiBUpload, Msat: 7_000}, {Unit: nips.UnitGiBRetrieval, Msat: 13_337}}
	dear := nips.Prices{{Unit: nips.UnitGiBDay, Msat: 9_999_999}, {Unit: nips.UnitGiBUpload, Msat: 1}, {Unit: nips.UnitGiBRetrieval, Msat: 50_000_000}}
	sizes := []uint64{1, 4096, 1<<20 + 17, 200_000_000, GiB, 3*GiB + 1, TiB}
	periods := []uint64{1, 86400, 30 * 86400, 366 * 86400, nips.MaxDuration}
	for pi, p := range []nips.Prices{old, priced, dear} {
		for _, n := range sizes {
			for _, dur := range periods {
				for op, opName := range map[market.StorageOp]string{market.OpStore: "store", market.OpRetrieve: "retrieve"} {
					name := fmt.Sprintf("prices %d/%d bytes/%d s/%s", pi, n, dur, opName)
					t.Run(name, func(t *testing.T) {
						const streams = 8
						req := uint64(1<<20 + 16)
						if n > 4*GiB {
							req = 8 << 20 // fewer requests for the TiB case
						}
						step := min(uint64(8<<20), n+1<<20)
						limit := market.StorageCap(p, dur, op, n, step, streams)
						paid, err := payAll(p, dur, op, n, req, step, streams, limit)
						if err != nil {
							t.Fatalf("honest provider refused: %v", err)
						}
						if paid > limit {
							t.Fatalf("paid %d over the cap %d", paid, limit)
						}
						per := market.PerGiB(p, dur, op)
						want := statedSats(per, n)
						if got := market.ChargeSats(p, dur, op, n); want.Cmp(new(big.Int).SetUint64(got)) != 0 {
							t.Fatalf("ChargeSats %d, stated price %s sats", got, want)
						}
						bound := new(big.Int).Add(want, new(big.Int).Mul(statedSats(per, step), big.NewInt(streams)))
						if new(big.Int).SetUint64(limit).Cmp(bound) > 0 {
							t.Fatalf("cap %d sats exceeds the stated price %s plus a step per stream (%s)", limit, want, bound)
						}
					})
				}
			}
		}
	}
}

func TestPerGiB(t *testing.T) {
	p := nips.Prices{{Unit: nips.UnitGiBDay, Msat: 2000}, {Unit: nips.UnitGiBUpload, Msat: 300}, {Unit: nips.UnitGiBRetrieval, Msat: 5000}}
	tests := []struct {
		name string
		dur  uint64
		op   market.StorageOp
		want uint64
	}{
		{"store less than a day counts a day", 60, market.OpStore, 2300},
		{"store 30 days", 30 * 86400, market.OpStore, 60_300},
		{"store 30 days and a second", 30*86400 + 1, market.OpStore, 62_300},
		{"retrieve ignores the period", 30 * 86400, market.OpRetrieve, 5000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := market.PerGiB(p, tc.dur, tc.op); got != tc.want {
				t.Fatalf("PerGiB %d, want %d", got, tc.want)
			}
		})
	}
}
