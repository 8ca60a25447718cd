package nips

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/nbd-wtf/go-nostr"
)

// geohashAlphabet is the base-32 alphabet of geohashes.
const geohashAlphabet = "0123456789bcdefghjkmnpqrstuvwxyz"

// MaxGeohashLen is the longest geohash accepted (12 characters, a few cm).
const MaxGeohashLen = 12

// CheckGeohash reports whether gh is a geohash of 1 to MaxGeohashLen characters.
func CheckGeohash(gh string) error {
	if gh == "" || len(gh) > MaxGeohashLen {
		return fmt.Errorf("%w: geohash %q must have 1 to %d characters", ErrBadValue, gh, MaxGeohashLen)
	}
	for i := 0; i < len(gh); i++ {
		if !strings.ContainsRune(geohashAlphabet, rune(gh[i])) {
			return fmt.Errorf("%w: geohash %q has %q, not in the geohash alphabet", ErrBadValue, gh, gh[i])
		}
	}
	return nil
}

// GeohashPrefixes returns every prefix of gh, shortest first, as NIP-52 does:
// an offer publishes one g tag per precision so that a REQ with
// {"#g": ["u0"]} finds every offer inside cell u0.
func GeohashPrefixes(gh string) []string {
	out := make([]string, 0, len(gh))
	for i := 1; i <= len(gh); i++ {
		out = append(out, gh[:i])
	}
	return out
}

// PriceBucket returns the value of an offer's "f" (fee bucket) tag for a
// price in millisats: the bit length of the price, so bucket b holds prices
// in [2^(b-1), 2^b) and bucket 0 holds a price of 0.
func PriceBucket(msat uint64) string { return utoa(uint64(bits.Len64(msat))) }

// PriceBucketsUpTo returns the "f" values a REQ lists to find offers whose
// (largest) price is at most ceiling: every bucket up to ceiling's own. The
// last bucket may hold prices above ceiling, so the reader still compares
// the parsed price (ParseOffer) with the ceiling.
func PriceBucketsUpTo(ceiling uint64) []string {
	n := bits.Len64(ceiling)
	out := make([]string, 0, n+1)
	for b := 0; b <= n; b++ {
		out = append(out, utoa(uint64(b)))
	}
	return out
}

// OfferQuery describes a search for offers.
type OfferQuery struct {
	Resource Resource // required
	Ceiling  uint64   // largest acceptable price component in msat; 0 = no ceiling
	Region   string   // geohash prefix; "" = anywhere
	Limit    int      // 0 = relay default
}

// Filter returns the NIP-01 filter for q. Matching events may still exceed
// the ceiling by less than a factor of two (see PriceBucketsUpTo); trust
// floors are applied by the relay, not by the filter.
func (q OfferQuery) Filter() nostr.Filter {
	f := nostr.Filter{
		Kinds: []int{KindOffer},
		Tags:  nostr.TagMap{"t": {string(q.Resource)}},
		Limit: q.Limit,
	}
	if q.Ceiling > 0 {
		f.Tags["f"] = PriceBucketsUpTo(q.Ceiling)
	}
	if q.Region != "" {
		f.Tags["g"] = []string{q.Region}
	}
	return f
}
