package nips

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/nbd-wtf/go-nostr"
)

// RoutstrVersion is the version tag of our Routstr announcements: the
// Routstr API we serve (OpenAI-compatible /v1, paid per request with
// X-Cashu), as implemented by sovmesh.
const RoutstrVersion = "sovmesh-routstr/1"

// Routstr encodes the offer as a Routstr provider announcement (kind 38421,
// same d tag): a u tag per endpoint URL, a mint tag per Cashu payment, the
// version, an "a" tag naming the offer and the offer's expiration, so the
// announcement ends with it. The content is the metadata JSON Routstr
// reads (name, about). The offer must have been published (Pubkey set).
func (o Offer) Routstr(createdAt nostr.Timestamp, urls []string) nostr.Event {
	tags := nostr.Tags{{"d", o.ID}}
	for _, u := range urls {
		tags = append(tags, nostr.Tag{"u", u})
	}
	for _, p := range o.Payments {
		if p.Method == PayCashu {
			tags = append(tags, nostr.Tag{"mint", p.Mint})
		}
	}
	tags = append(tags,
		nostr.Tag{"version", RoutstrVersion},
		nostr.Tag{"a", o.Address()},
		nostr.Tag{"expiration", utoa(uint64(o.Expiration))},
		nostr.Tag{"alt", "Routstr provider (sovmesh inference offer " + o.Address() + ")"})
	meta, _ := json.Marshal(map[string]string{"name": "sovmesh inference", "about": o.describe()})
	return nostr.Event{Kind: KindRoutstr, CreatedAt: createdAt, Tags: tags, Content: string(meta)}
}

// RoutstrProvider is a Routstr provider announcement (kind 38421) as a
// buyer reads it: routstr-core's NIP-91 draft (a d tag, a u tag per
// endpoint base URL, a mint tag per Cashu mint it takes, an optional
// version, and metadata JSON with name and about as content) and the tags
// sovmesh adds (a, expiration). Its models and prices are not in it: they
// are read from the provider's GET /v1/models.
type RoutstrProvider struct {
	ID      string   // d tag
	URLs    []string // u tags: http(s) base URLs, without a trailing slash
	Mints   []string // mint tags, normalized (NormalizeMintURL)
	Version string
	Name    string // content's name (display)
	About   string // content's about (display)

	// Expiration is the NIP-40 expiration (0: none; routstr-core sets none).
	Expiration nostr.Timestamp
	Pubkey     string
	CreatedAt  nostr.Timestamp
}

// Address returns the announcement's NIP-01 address "38421:<pubkey>:<d>".
func (r RoutstrProvider) Address() string { return Address(KindRoutstr, r.Pubkey, r.ID) }

// ParseRoutstr reads a kind 38421 announcement. The d tag and at least one
// u tag are required; every u and mint tag must be a well-formed URL (u:
// http or https with a host, no credentials, query or fragment; mint: as
// NormalizeMintURL), at most MaxListLen of each, no duplicates. Content
// that is not a JSON object is read as no metadata, as routstr-core does;
// name and about are cut to MaxTextLen and 4 KiB.
func ParseRoutstr(evt *nostr.Event) (RoutstrProvider, error) {
	p := newParser("routstr")
	if err := p.kind(evt, KindRoutstr); err != nil {
		return RoutstrProvider{}, err
	}
	r := RoutstrProvider{Pubkey: evt.PubKey, CreatedAt: evt.CreatedAt}
	for _, tag := range evt.Tags {
		var err error
		switch tag[0] {
		case "d":
			if err = p.once("d"); err == nil {
				if err = p.want(tag, 2, `["d", provider_id]`); err == nil {
					r.ID = tag[1]
					if r.ID == "" || len(r.ID) > MaxTextLen {
						err = perr(p.typ, "d", ErrBadValue, "must be 1 to %d bytes", MaxTextLen)
					}
				}
			}
		case "u":
			if err = p.want(tag, 2, `["u", url]`); err == nil {
				var u string
				if u, err = routstrURL(tag[1]); err != nil {
					err = p.wrap("u", err)
				} else if len(r.URLs) >= MaxListLen {
					err = perr(p.typ, "u", ErrOutOfRange, "more than %d URLs", MaxListLen)
				} else if slices.Contains(r.URLs, u) {
					err = perr(p.typ, "u", ErrDuplicateTag, "%q", u)
				}
				r.URLs = append(r.URLs, u)
			}
		case "mint":
			if err = p.want(tag, 2, `["mint", url]`); err == nil {
				var m string
				if m, err = NormalizeMintURL(tag[1]); err != nil {
					err = p.wrap("mint", err)
				} else if len(r.Mints) >= MaxListLen {
					err = perr(p.typ, "mint", ErrOutOfRange, "more than %d mints", MaxListLen)
				} else if slices.Contains(r.Mints, m) {
					err = perr(p.typ, "mint", ErrDuplicateTag, "%q", m)
				}
				r.Mints = append(r.Mints, m)
			}
		case "version":
			if err = p.once("version"); err == nil {
				if err = p.want(tag, 2, `["version", version]`); err == nil {
					r.Version = tag[1]
					if len(r.Version) > MaxTextLen {
						err = perr(p.typ, "version", ErrBadValue, "longer than %d bytes", MaxTextLen)
					}
				}
			}
		case "expiration":
			var exp uint64
			if err = p.once("expiration"); err == nil {
				if err = p.want(tag, 2, `["expiration", unix_seconds]`); err == nil {
					exp, err = p.uint(tag, 1, 1, 1<<40)
					r.Expiration = nostr.Timestamp(exp)
				}
			}
		}
		if err != nil {
			return RoutstrProvider{}, err
		}
	}
	if !p.seen["d"] {
		return RoutstrProvider{}, perr(p.typ, "d", ErrMissingTag, "")
	}
	if len(r.URLs) == 0 {
		return RoutstrProvider{}, perr(p.typ, "u", ErrMissingTag, "")
	}
	var meta struct {
		Name  any `json:"name"`
		About any `json:"about"`
	}
	if json.Unmarshal([]byte(evt.Content), &meta) == nil {
		r.Name, _ = meta.Name.(string)
		r.About, _ = meta.About.(string)
		r.Name, r.About = truncate(r.Name, MaxTextLen), truncate(r.About, 4096)
	}
	return r, nil
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// routstrURL checks a Routstr endpoint base URL: http or https with a
// host, no credentials, query or fragment, at most 512 bytes. The trailing
// slash is dropped.
func routstrURL(s string) (string, error) {
	if len(s) > 512 {
		return "", fmt.Errorf("%w: URL longer than 512 bytes", ErrBadValue)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%w: %q is not an http(s) URL", ErrBadValue, s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%w: URL %q carries credentials, a query or a fragment", ErrBadValue, s)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// Offer returns the announcement as an inference offer (nips/offer.md,
// "Mapping to Routstr"): the models and prices read from the provider's
// model list, a cashu payment in sat per mint, and no libp2p endpoint.
func (r RoutstrProvider) Offer(models []string, prices Prices) Offer {
	o := Offer{ID: r.ID, Resource: Inference, Prices: prices, Models: models, Pubkey: r.Pubkey, CreatedAt: r.CreatedAt,
		Expiration: r.Expiration, Title: r.Name, Summary: r.About}
	for _, m := range r.Mints {
		o.Payments = append(o.Payments, Payment{Method: PayCashu, Mint: m, Unit: "sat"})
	}
	return o
}
