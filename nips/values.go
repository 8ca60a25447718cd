package nips

import (
	"fmt"
	"math/bits"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Protocol bounds. Parsers reject values outside them, so that arithmetic on
// parsed values cannot overflow uint64.
const (
	// MaxMsat is the largest amount or price in millisats: 21M BTC.
	MaxMsat uint64 = 21_000_000 * 100_000_000 * 1000
	// MaxQuantity is the largest quantity of any unit (about 10^15).
	MaxQuantity uint64 = 1 << 50
	// MaxDuration is the longest duration or retention, in seconds (10 years).
	MaxDuration uint64 = 10 * 366 * 86400
	// MaxListLen bounds repeated tags (payments, endpoints, models, cids).
	MaxListLen = 32
	// MaxTextLen bounds free-text tag values (title, summary, model names).
	MaxTextLen = 256
	// MaxIDLen bounds identifiers such as an offer's d tag.
	MaxIDLen = 64
)

// Resource is the class of resource an offer sells.
type Resource string

// The resources sold on the market.
const (
	Bandwidth Resource = "bandwidth" // relayed traffic, priced per MiB
	Storage   Resource = "storage"   // priced per GiB-day held, per GiB uploaded, per GiB retrieved
	Inference Resource = "inference" // priced per 1M input and per 1M output tokens
)

// Resources lists every resource class.
var Resources = []Resource{Bandwidth, Storage, Inference}

// Valid reports whether r is a known resource class.
func (r Resource) Valid() bool { return slices.Contains(Resources, r) }

// PriceUnits returns the units an offer for r prices, in tag order. Parsed
// prices have every one: a storage offer may leave out GiB-upload and
// GiB-retrieval, which then take their defaults (see defaultPrice).
func (r Resource) PriceUnits() []Unit {
	switch r {
	case Bandwidth:
		return []Unit{UnitMiB}
	case Storage:
		return []Unit{UnitGiBDay, UnitGiBUpload, UnitGiBRetrieval}
	case Inference:
		return []Unit{UnitMInputTokens, UnitMOutputTokens}
	}
	return nil
}

// defaultPrice returns the price of a unit an offer (or bid) of r may leave
// out, given the prices it states: a storage upload costs 0 and a
// retrieval one day of holding (the GiB-day price per GiB), which is what
// offers without these tags charged. ok is false for a required unit.
func (r Resource) defaultPrice(u Unit, stated Prices) (msat uint64, ok bool) {
	if r != Storage {
		return 0, false
	}
	switch u {
	case UnitGiBUpload:
		return 0, true
	case UnitGiBRetrieval:
		return stated.Of(UnitGiBDay)
	}
	return 0, false
}

// QuantityUnit names the unit quantities of r are counted in: MiB of
// traffic, GiB stored (for the bid's duration), or tokens.
func (r Resource) QuantityUnit() string {
	switch r {
	case Bandwidth:
		return "MiB"
	case Storage:
		return "GiB"
	case Inference:
		return "token"
	}
	return ""
}

// Unit is what one price is for.
type Unit string

// Price units.
const (
	UnitMiB           Unit = "MiB"              // one mebibyte relayed
	UnitGiBDay        Unit = "GiB-day"          // one gibibyte stored for one day
	UnitGiBUpload     Unit = "GiB-upload"       // one gibibyte received for storage
	UnitGiBRetrieval  Unit = "GiB-retrieval"    // one gibibyte of stored data served back
	UnitMInputTokens  Unit = "1M-input-tokens"  // one million prompt tokens
	UnitMOutputTokens Unit = "1M-output-tokens" // one million completion tokens
)

// Price is a price in millisats for one Unit.
type Price struct {
	Unit Unit   `json:"unit"`
	Msat uint64 `json:"msat"`
}

// Prices is the list of an offer's (or a bid's maximum) prices, one per unit
// of its resource, in the order of Resource.PriceUnits.
type Prices []Price

// Of returns the price for unit u.
func (p Prices) Of(u Unit) (uint64, bool) {
	for _, x := range p {
		if x.Unit == u {
			return x.Msat, true
		}
	}
	return 0, false
}

// Sum is the sum of the components, the order book's sort key. Components
// are at most MaxMsat and at most three, so the sum cannot overflow.
func (p Prices) Sum() uint64 {
	var s uint64
	for _, x := range p {
		s += x.Msat
	}
	return s
}

// Max is the largest component, the basis of the price bucket tag.
func (p Prices) Max() uint64 {
	var m uint64
	for _, x := range p {
		m = max(m, x.Msat)
	}
	return m
}

// Within reports whether every component of p is at most the component of
// ceiling for the same unit (a missing ceiling component means no match).
func (p Prices) Within(ceiling Prices) bool {
	for _, x := range p {
		c, ok := ceiling.Of(x.Unit)
		if !ok || x.Msat > c {
			return false
		}
	}
	return true
}

// Cost returns the amount in millisats that quantity units of resource r at
// prices p cost for duration seconds: MiB x price for bandwidth; GiB x days
// (rounded up, at least one) x price for storage; and for inference the most
// the tokens can cost, max(input, output) x tokens / 10^6 rounded up (the
// buyer pays the reservation; the receipt states what was used). It returns
// ErrOverflow past MaxMsat.
func Cost(r Resource, p Prices, quantity, durationSec uint64) (uint64, error) {
	switch r {
	case Bandwidth:
		price, _ := p.Of(UnitMiB)
		return mulCap(price, quantity)
	case Storage:
		price, _ := p.Of(UnitGiBDay)
		days := max((durationSec+86399)/86400, 1)
		gibDays, err := mulCap(quantity, days)
		if err != nil {
			return 0, err
		}
		return mulCap(price, gibDays)
	case Inference:
		price := p.Max()
		hi, lo := bits.Mul64(price, quantity)
		if hi >= 1_000_000 { // quotient would not fit in 64 bits
			return 0, ErrOverflow
		}
		q, rem := bits.Div64(hi, lo, 1_000_000)
		if rem != 0 {
			q++
		}
		if q > MaxMsat {
			return 0, ErrOverflow
		}
		return q, nil
	}
	return 0, fmt.Errorf("%w: unknown resource %q", ErrBadValue, r)
}

// mulCap multiplies with overflow and MaxMsat checks.
func mulCap(a, b uint64) (uint64, error) {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 || lo > MaxMsat {
		return 0, ErrOverflow
	}
	return lo, nil
}

// Tier is a node's class: root (high-capacity hub), branch (standard node)
// or leaf (edge device).
type Tier string

// The tiers.
const (
	TierRoot   Tier = "root"
	TierBranch Tier = "branch"
	TierLeaf   Tier = "leaf"
)

// Valid reports whether t is a known tier.
func (t Tier) Valid() bool { return t == TierRoot || t == TierBranch || t == TierLeaf }

// PaymentMethod is how a buyer pays.
type PaymentMethod string

// The payment methods.
const (
	PayCashu     PaymentMethod = "cashu"     // Cashu ecash from a named mint and unit
	PayLightning PaymentMethod = "lightning" // a BOLT11 invoice
)

// Payment is one accepted way of paying: a Cashu mint and unit, or Lightning.
type Payment struct {
	Method PaymentMethod `json:"method"`
	Mint   string        `json:"mint,omitempty"` // Cashu mint URL, normalized (no trailing slash); empty for Lightning
	Unit   string        `json:"unit,omitempty"` // Cashu keyset unit, "sat" or "msat"; empty for Lightning
}

// Tag returns the payment tag.
func (p Payment) Tag() []string {
	if p.Method == PayCashu {
		return []string{"payment", string(PayCashu), p.Mint, p.Unit}
	}
	return []string{"payment", string(p.Method)}
}

// Compatible reports whether a and b are the same way of paying (Lightning,
// or the same mint and unit).
func (p Payment) Compatible(q Payment) bool {
	return p.Method == q.Method && p.Mint == q.Mint && p.Unit == q.Unit
}

// CommonPayment returns the first method in a that b also accepts.
func CommonPayment(a, b []Payment) (Payment, bool) {
	for _, x := range a {
		for _, y := range b {
			if x.Compatible(y) {
				return x, true
			}
		}
	}
	return Payment{}, false
}

func parsePayment(tag []string) (Payment, error) {
	if len(tag) < 2 {
		return Payment{}, fmt.Errorf("%w: want [\"payment\", method, ...]", ErrBadValue)
	}
	switch PaymentMethod(tag[1]) {
	case PayLightning:
		return Payment{Method: PayLightning}, nil
	case PayCashu:
		if len(tag) < 4 {
			return Payment{}, fmt.Errorf("%w: want [\"payment\", \"cashu\", mint_url, unit]", ErrBadValue)
		}
		mint, err := NormalizeMintURL(tag[2])
		if err != nil {
			return Payment{}, err
		}
		if tag[3] != "sat" && tag[3] != "msat" {
			return Payment{}, fmt.Errorf("%w: cashu unit %q, want sat or msat", ErrBadValue, tag[3])
		}
		return Payment{Method: PayCashu, Mint: mint, Unit: tag[3]}, nil
	}
	return Payment{}, fmt.Errorf("%w: payment method %q, want cashu or lightning", ErrBadValue, tag[1])
}

// NormalizeMintURL checks a Cashu mint URL (https, or http on a loopback or
// .onion host; no query, fragment or credentials) and drops a trailing slash.
func NormalizeMintURL(s string) (string, error) {
	if len(s) > 512 {
		return "", fmt.Errorf("%w: mint URL longer than 512 bytes", ErrBadValue)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: mint URL %q is not an absolute URL", ErrBadValue, s)
	}
	host := u.Hostname()
	local := host == "localhost" || host == "127.0.0.1" || host == "::1" || strings.HasSuffix(host, ".onion")
	if u.Scheme != "https" && (u.Scheme != "http" || !local) {
		return "", fmt.Errorf("%w: mint URL %q must be https (http only on loopback or .onion)", ErrBadValue, s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: mint URL %q carries credentials, a query or a fragment", ErrBadValue, s)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// parseUint reads a canonical decimal (no sign, no leading zeros) in [lo, hi].
func parseUint(s string, lo, hi uint64) (uint64, error) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%w: %q is not a canonical decimal integer", ErrBadValue, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: %q is not a canonical decimal integer", ErrBadValue, s)
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q does not fit 64 bits", ErrOutOfRange, s)
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%w: %d not in [%d, %d]", ErrOutOfRange, v, lo, hi)
	}
	return v, nil
}

func utoa(v uint64) string { return strconv.FormatUint(v, 10) }

// isHex64 reports whether s is 64 lowercase hex digits (an id or a pubkey).
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < 64; i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkText bounds a free-text value and refuses control characters.
func checkText(s string, maxLen int) error {
	if len(s) > maxLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrOutOfRange, maxLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: control character in %q", ErrBadValue, s)
		}
	}
	return nil
}
