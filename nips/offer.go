package nips

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/nbd-wtf/go-nostr"
)

// MaxOfferTTL is the longest an offer may live: its NIP-40 expiration is at
// most this many seconds after created_at (30 days). Providers republish.
const MaxOfferTTL = 30 * 86400

// Offer is a provider's offer of one resource (kind 38460, addressable, d =
// offer id). See offer.md.
type Offer struct {
	ID          string   // d tag: the offer id, unique per provider
	Resource    Resource // t tag
	Prices      Prices   // price tags, one per unit of Resource, millisats
	MinQuantity uint64   // smallest quantity one match may take
	MaxQuantity uint64   // largest quantity one match may take
	Capacity    uint64   // quantity left to sell
	Payments    []Payment
	Geohash     string // most precise g tag; "" = no region
	Tier        Tier
	Endpoints   []string        // libp2p multiaddrs without /p2p/
	Expiration  nostr.Timestamp // NIP-40, required
	Title       string          // NIP-99 title (display)
	Summary     string          // NIP-99 summary (display)
	Content     string          // free-text description (display)

	// Storage only.
	MaxObjectSize uint64 // bytes
	Retention     uint64 // longest storage period sold, seconds
	Blossom       string // URL of the provider's Blossom server ("": none)

	// Inference only.
	Models        []string
	ContextLength uint64 // tokens

	// Set by ParseOffer from the event; ignored by ToEvent.
	Pubkey    string
	EventID   string
	CreatedAt nostr.Timestamp
}

// Address returns the offer's NIP-01 address "38460:<pubkey>:<d>".
func (o Offer) Address() string { return Address(KindOffer, o.Pubkey, o.ID) }

// ToEvent encodes the offer as an unsigned event created at createdAt.
// It emits the display tags (alt, title, summary) too, deriving them from the
// offer when Title or Summary is empty.
func (o Offer) ToEvent(createdAt nostr.Timestamp) nostr.Event {
	tags := nostr.Tags{
		{"d", o.ID},
		{"t", string(o.Resource)},
	}
	tags = append(tags, priceTags("price", o.Prices)...)
	tags = append(tags,
		nostr.Tag{"f", PriceBucket(o.Prices.Max())},
		nostr.Tag{"quantity", utoa(o.MinQuantity), utoa(o.MaxQuantity)},
		nostr.Tag{"capacity", utoa(o.Capacity)},
	)
	for _, p := range o.Payments {
		tags = append(tags, p.Tag())
	}
	for _, g := range GeohashPrefixes(o.Geohash) {
		tags = append(tags, nostr.Tag{"g", g})
	}
	tags = append(tags, nostr.Tag{"tier", string(o.Tier)})
	for _, e := range o.Endpoints {
		tags = append(tags, nostr.Tag{"endpoint", e})
	}
	switch o.Resource {
	case Storage:
		tags = append(tags, nostr.Tag{"max_object_size", utoa(o.MaxObjectSize)}, nostr.Tag{"retention", utoa(o.Retention)})
		if o.Blossom != "" {
			tags = append(tags, nostr.Tag{"blossom", o.Blossom})
		}
	case Inference:
		for _, m := range o.Models {
			tags = append(tags, nostr.Tag{"model", m})
		}
		tags = append(tags, nostr.Tag{"context_length", utoa(o.ContextLength)})
	}
	title, summary := o.Title, o.Summary
	if title == "" {
		title = fmt.Sprintf("%s for sats", o.Resource)
	}
	if summary == "" {
		summary = o.describe()
	}
	tags = append(tags,
		nostr.Tag{"expiration", utoa(uint64(o.Expiration))},
		nostr.Tag{"title", title},
		nostr.Tag{"summary", summary},
		nostr.Tag{"alt", "sovmesh market offer: " + summary},
	)
	return nostr.Event{Kind: KindOffer, CreatedAt: createdAt, Tags: tags, Content: o.Content}
}

// describe is the human summary of the offer's price.
func (o Offer) describe() string {
	parts := make([]string, 0, len(o.Prices))
	for _, p := range o.Prices {
		parts = append(parts, fmt.Sprintf("%s msat per %s", utoa(p.Msat), p.Unit))
	}
	return fmt.Sprintf("%s at %s", o.Resource, strings.Join(parts, ", "))
}

// ParseOffer reads and checks an offer event.
func ParseOffer(evt *nostr.Event) (Offer, error) {
	p := newParser("offer")
	if err := p.kind(evt, KindOffer); err != nil {
		return Offer{}, err
	}
	o := Offer{Pubkey: evt.PubKey, EventID: evt.ID, CreatedAt: evt.CreatedAt, Content: evt.Content}
	var (
		prices Prices
		gs     []string
		bucket string
		err    error
	)
	for _, tag := range evt.Tags {
		switch tag[0] {
		case "d":
			if err = p.once("d"); err == nil {
				if err = p.want(tag, 2, `["d", offer_id]`); err == nil {
					o.ID = tag[1]
					err = p.wrap("d", checkOfferID(tag[1]))
				}
			}
		case "t":
			o.Resource, err = p.resource(tag, o.Resource)
		case "price":
			prices, err = p.price(tag, prices)
		case "f":
			if err = p.once("f"); err == nil {
				if err = p.want(tag, 2, `["f", price_bucket]`); err == nil {
					bucket = tag[1]
				}
			}
		case "quantity":
			if err = p.once("quantity"); err == nil {
				if err = p.want(tag, 3, `["quantity", min, max]`); err == nil {
					if o.MinQuantity, err = p.uint(tag, 1, 1, MaxQuantity); err == nil {
						o.MaxQuantity, err = p.uint(tag, 2, o.MinQuantity, MaxQuantity)
					}
				}
			}
		case "capacity":
			if err = p.once("capacity"); err == nil {
				if err = p.want(tag, 2, `["capacity", quantity]`); err == nil {
					o.Capacity, err = p.uint(tag, 1, 0, MaxQuantity)
				}
			}
		case "payment":
			o.Payments, err = p.payment(tag, o.Payments)
		case "g":
			if err = p.want(tag, 2, `["g", geohash]`); err == nil {
				if len(gs) >= MaxGeohashLen {
					err = perr(p.typ, "g", ErrOutOfRange, "more than %d g tags", MaxGeohashLen)
				}
				gs = append(gs, tag[1])
			}
		case "tier":
			if err = p.once("tier"); err == nil {
				if err = p.want(tag, 2, `["tier", root|branch|leaf]`); err == nil {
					o.Tier = Tier(tag[1])
					if !o.Tier.Valid() {
						err = perr(p.typ, "tier", ErrBadValue, "%q, want root, branch or leaf", tag[1])
					}
				}
			}
		case "endpoint":
			o.Endpoints, err = p.endpoint(tag, o.Endpoints)
		case "expiration":
			o.Expiration, err = p.expiration(tag, evt.CreatedAt, MaxOfferTTL)
		case "title", "summary", "alt":
			if err = p.once(tag[0]); err == nil {
				if err = p.want(tag, 2, fmt.Sprintf("[%q, text]", tag[0])); err == nil {
					err = p.wrap(tag[0], checkText(tag[1], MaxTextLen))
					switch tag[0] {
					case "title":
						o.Title = tag[1]
					case "summary":
						o.Summary = tag[1]
					}
				}
			}
		case "max_object_size":
			if err = p.once(tag[0]); err == nil {
				if err = p.want(tag, 2, `["max_object_size", bytes]`); err == nil {
					o.MaxObjectSize, err = p.uint(tag, 1, 1, MaxQuantity)
				}
			}
		case "retention":
			if err = p.once(tag[0]); err == nil {
				if err = p.want(tag, 2, `["retention", seconds]`); err == nil {
					o.Retention, err = p.uint(tag, 1, 1, MaxDuration)
				}
			}
		case "blossom":
			if err = p.once(tag[0]); err == nil {
				if err = p.want(tag, 2, `["blossom", url]`); err == nil {
					o.Blossom, err = tag[1], p.wrap("blossom", CheckBlossomURL(tag[1]))
				}
			}
		case "model":
			if err = p.want(tag, 2, `["model", name]`); err == nil {
				switch {
				case len(o.Models) >= MaxListLen:
					err = perr(p.typ, "model", ErrOutOfRange, "more than %d models", MaxListLen)
				case tag[1] == "":
					err = perr(p.typ, "model", ErrBadValue, "empty model name")
				case slices.Contains(o.Models, tag[1]):
					err = perr(p.typ, "model", ErrDuplicateTag, "%q", tag[1])
				default:
					err = p.wrap("model", checkText(tag[1], MaxTextLen))
					o.Models = append(o.Models, tag[1])
				}
			}
		case "context_length":
			if err = p.once(tag[0]); err == nil {
				if err = p.want(tag, 2, `["context_length", tokens]`); err == nil {
					o.ContextLength, err = p.uint(tag, 1, 1, 1<<32)
				}
			}
		}
		if err != nil {
			return Offer{}, err
		}
	}
	if o.Resource == "" {
		return Offer{}, perr(p.typ, "t", ErrMissingTag, "one t tag must name the resource: bandwidth, storage or inference")
	}
	if err := p.require("d", "f", "quantity", "capacity", "tier", "expiration"); err != nil {
		return Offer{}, err
	}
	if o.Prices, err = p.checkPrices("price", o.Resource, prices); err != nil {
		return Offer{}, err
	}
	if want := PriceBucket(o.Prices.Max()); bucket != want {
		return Offer{}, perr(p.typ, "f", ErrBadValue, "bucket %q, want %q for a price of %d msat", bucket, want, o.Prices.Max())
	}
	if len(o.Payments) == 0 {
		return Offer{}, perr(p.typ, "payment", ErrMissingTag, "at least one payment method")
	}
	if len(gs) > 0 {
		if o.Geohash, err = p.geohashes(gs); err != nil {
			return Offer{}, err
		}
	}
	if err := checkResourceTags(p, o.Resource); err != nil {
		return Offer{}, err
	}
	if o.Resource != Storage && o.Blossom != "" {
		return Offer{}, perr(p.typ, "blossom", ErrBadValue, "only a storage offer has a Blossom server, this one sells %s", o.Resource)
	}
	if o.Resource != Inference && len(o.Models) > 0 {
		return Offer{}, perr(p.typ, "model", ErrBadValue, "only an inference offer names models, this one sells %s", o.Resource)
	}
	if o.Resource == Inference && len(o.Models) == 0 {
		return Offer{}, perr(p.typ, "model", ErrMissingTag, "an inference offer names at least one model")
	}
	return o, nil
}

// checkResourceTags requires the resource's own tags and refuses the others'.
func checkResourceTags(p *parser, r Resource) error {
	own := map[Resource][]string{
		Storage:   {"max_object_size", "retention"},
		Inference: {"context_length"},
	}
	for res, names := range own {
		for _, n := range names {
			switch {
			case res == r && !p.seen[n]:
				return perr(p.typ, n, ErrMissingTag, "a %s offer needs it", r)
			case res != r && p.seen[n]:
				return perr(p.typ, n, ErrBadValue, "only a %s offer has it, this one sells %s", res, r)
			}
		}
	}
	return nil
}

// CheckBlossomURL checks the URL of a Blossom server: absolute http(s),
// no credentials, query or fragment, at most 512 bytes.
func CheckBlossomURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case len(s) > 512:
		return fmt.Errorf("%w: Blossom URL longer than 512 bytes", ErrBadValue)
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		return fmt.Errorf("%w: Blossom URL %q is not an absolute http(s) URL", ErrBadValue, s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return fmt.Errorf("%w: Blossom URL %q carries credentials, a query or a fragment", ErrBadValue, s)
	}
	return nil
}
