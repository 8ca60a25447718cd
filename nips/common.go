package nips

import (
	"fmt"
	"slices"

	"github.com/multiformats/go-multiaddr"
	"github.com/nbd-wtf/go-nostr"
)

// MaxEndpoints bounds the transport endpoints of an offer or beacon.
const MaxEndpoints = 16

// parser carries the state shared by every ParseXxx: the event type name
// for errors and the set of once-only tags already read.
type parser struct {
	typ  string
	seen map[string]bool
}

func newParser(typ string) *parser { return &parser{typ: typ, seen: make(map[string]bool, 16)} }

// once records a once-only tag and fails on a second one.
func (p *parser) once(name string) error {
	if p.seen[name] {
		return perr(p.typ, name, ErrDuplicateTag, "")
	}
	p.seen[name] = true
	return nil
}

// want checks that tag has at least n elements.
func (p *parser) want(tag nostr.Tag, n int, shape string) error {
	if len(tag) < n {
		return perr(p.typ, tag[0], ErrBadValue, "want %s", shape)
	}
	return nil
}

func (p *parser) require(names ...string) error {
	for _, n := range names {
		if !p.seen[n] {
			return perr(p.typ, n, ErrMissingTag, "")
		}
	}
	return nil
}

func (p *parser) uint(tag nostr.Tag, i int, lo, hi uint64) (uint64, error) {
	v, err := parseUint(tag[i], lo, hi)
	if err != nil {
		return 0, &ParseError{Type: p.typ, Tag: tag[0], Err: err}
	}
	return v, nil
}

func (p *parser) wrap(tag string, err error) error {
	if err == nil {
		return nil
	}
	return &ParseError{Type: p.typ, Tag: tag, Err: err}
}

func (p *parser) kind(evt *nostr.Event, want int) error {
	if evt == nil {
		return perr(p.typ, "", ErrBadValue, "nil event")
	}
	if evt.Kind != want {
		return perr(p.typ, "kind", ErrWrongKind, "got %d, want %d", evt.Kind, want)
	}
	for _, t := range evt.Tags {
		if len(t) == 0 {
			return perr(p.typ, "", ErrBadValue, "empty tag")
		}
	}
	return nil
}

// expiration reads a NIP-40 expiration tag and bounds its distance from
// created_at to (0, maxTTL] seconds.
func (p *parser) expiration(tag nostr.Tag, createdAt nostr.Timestamp, maxTTL uint64) (nostr.Timestamp, error) {
	if err := p.once("expiration"); err != nil {
		return 0, err
	}
	if err := p.want(tag, 2, `["expiration", unix_seconds]`); err != nil {
		return 0, err
	}
	v, err := p.uint(tag, 1, 1, 1<<40)
	if err != nil {
		return 0, err
	}
	if createdAt > 0 && (v <= uint64(createdAt) || v-uint64(createdAt) > maxTTL) {
		return 0, perr(p.typ, "expiration", ErrOutOfRange, "must be after created_at and at most %d s after it", maxTTL)
	}
	return nostr.Timestamp(v), nil
}

// geohashes collects g tags; they must all be prefixes of the longest one.
// It returns the longest.
func (p *parser) geohashes(tags []string) (string, error) {
	longest := ""
	for _, g := range tags {
		if err := CheckGeohash(g); err != nil {
			return "", p.wrap("g", err)
		}
		if len(g) > len(longest) {
			longest = g
		}
	}
	for _, g := range tags {
		if longest[:len(g)] != g {
			return "", perr(p.typ, "g", ErrBadValue, "%q and %q are not prefixes of one geohash", g, longest)
		}
	}
	return longest, nil
}

// CheckEndpoint checks a libp2p transport address. It must not name a peer
// (/p2p/...): the peer ID follows from the event's Nostr key.
func CheckEndpoint(s string) error {
	if len(s) > 256 {
		return fmt.Errorf("%w: endpoint longer than 256 bytes", ErrBadValue)
	}
	m, err := multiaddr.NewMultiaddr(s)
	if err != nil {
		return fmt.Errorf("%w: endpoint %q is not a multiaddr: %v", ErrBadValue, s, err)
	}
	if _, err := m.ValueForProtocol(multiaddr.P_P2P); err == nil {
		return fmt.Errorf("%w: endpoint %q names a peer; the peer ID follows from the Nostr key", ErrBadValue, s)
	}
	return nil
}

func (p *parser) endpoint(tag nostr.Tag, list []string) ([]string, error) {
	if err := p.want(tag, 2, `["endpoint", multiaddr]`); err != nil {
		return nil, err
	}
	if len(list) >= MaxEndpoints {
		return nil, perr(p.typ, "endpoint", ErrOutOfRange, "more than %d endpoints", MaxEndpoints)
	}
	if err := CheckEndpoint(tag[1]); err != nil {
		return nil, p.wrap("endpoint", err)
	}
	if slices.Contains(list, tag[1]) {
		return nil, perr(p.typ, "endpoint", ErrDuplicateTag, "%q", tag[1])
	}
	return append(list, tag[1]), nil
}

func (p *parser) payment(tag nostr.Tag, list []Payment) ([]Payment, error) {
	if len(list) >= MaxListLen {
		return nil, perr(p.typ, "payment", ErrOutOfRange, "more than %d payment methods", MaxListLen)
	}
	pay, err := parsePayment(tag)
	if err != nil {
		return nil, p.wrap("payment", err)
	}
	if slices.ContainsFunc(list, pay.Compatible) {
		return nil, perr(p.typ, "payment", ErrDuplicateTag, "%v listed twice", pay.Tag()[1:])
	}
	return append(list, pay), nil
}

// resource reads a t tag: the first t tag naming a resource class sets the
// resource; other t tags are hashtags and are ignored, but two different
// resource classes are an error.
func (p *parser) resource(tag nostr.Tag, cur Resource) (Resource, error) {
	if len(tag) < 2 || !Resource(tag[1]).Valid() {
		return cur, nil
	}
	r := Resource(tag[1])
	if cur != "" && cur != r {
		return "", perr(p.typ, "t", ErrBadValue, "names two resources, %q and %q", cur, r)
	}
	return r, nil
}

// prices reads a ["price"|"max_price", msat, "msat", unit] tag into list.
func (p *parser) price(tag nostr.Tag, list Prices) (Prices, error) {
	if err := p.want(tag, 4, fmt.Sprintf(`[%q, msat, "msat", unit]`, tag[0])); err != nil {
		return nil, err
	}
	if tag[2] != "msat" {
		return nil, perr(p.typ, tag[0], ErrBadValue, "currency %q, want msat", tag[2])
	}
	u := Unit(tag[3])
	switch u {
	case UnitMiB, UnitGiBDay, UnitGiBUpload, UnitGiBRetrieval, UnitMInputTokens, UnitMOutputTokens:
	default:
		return nil, perr(p.typ, tag[0], ErrBadValue, "unknown unit %q", tag[3])
	}
	if _, dup := list.Of(u); dup {
		return nil, perr(p.typ, tag[0], ErrDuplicateTag, "two prices for %s", u)
	}
	v, err := p.uint(tag, 1, 0, MaxMsat)
	if err != nil {
		return nil, err
	}
	return append(list, Price{Unit: u, Msat: v}), nil
}

// checkPrices checks that list prices exactly the units of r, fills in the
// default of each optional unit left out (Resource.defaultPrice), and
// orders it.
func (p *parser) checkPrices(tagName string, r Resource, list Prices) (Prices, error) {
	units := r.PriceUnits()
	if len(list) == 0 {
		return nil, perr(p.typ, tagName, ErrMissingTag, "")
	}
	out := make(Prices, 0, len(units))
	given := 0
	for _, u := range units {
		v, ok := list.Of(u)
		if ok {
			given++
		} else if v, ok = r.defaultPrice(u, list); !ok {
			return nil, perr(p.typ, tagName, ErrMissingTag, "%s needs a price per %s", r, u)
		}
		out = append(out, Price{Unit: u, Msat: v})
	}
	if len(list) != given {
		return nil, perr(p.typ, tagName, ErrBadValue, "%s is priced only per %v", r, units)
	}
	return out, nil
}

func priceTags(name string, ps Prices) nostr.Tags {
	out := make(nostr.Tags, 0, len(ps))
	for _, x := range ps {
		out = append(out, nostr.Tag{name, utoa(x.Msat), "msat", string(x.Unit)})
	}
	return out
}

// Address returns the NIP-01 address "kind:pubkey:d" of an addressable event.
func Address(kind int, pubkey, d string) string {
	return fmt.Sprintf("%d:%s:%s", kind, pubkey, d)
}

// ParseOfferAddress splits an offer address "38460:<pubkey>:<d>".
func ParseOfferAddress(a string) (pubkey, d string, err error) {
	prefix := fmt.Sprintf("%d:", KindOffer)
	if len(a) < len(prefix)+65 || a[:len(prefix)] != prefix || a[len(prefix)+64] != ':' {
		return "", "", fmt.Errorf("%w: %q is not an offer address %s<pubkey>:<d>", ErrBadValue, a, prefix)
	}
	pubkey, d = a[len(prefix):len(prefix)+64], a[len(prefix)+65:]
	if !isHex64(pubkey) {
		return "", "", fmt.Errorf("%w: address %q has a malformed pubkey", ErrBadValue, a)
	}
	if err := checkOfferID(d); err != nil {
		return "", "", err
	}
	return pubkey, d, nil
}

func checkOfferID(d string) error {
	if d == "" || len(d) > MaxIDLen {
		return fmt.Errorf("%w: offer id must have 1 to %d characters", ErrBadValue, MaxIDLen)
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%w: offer id %q may hold only letters, digits, '-', '_' and '.'", ErrBadValue, d)
		}
	}
	return nil
}
