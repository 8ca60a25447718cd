package nips

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nbd-wtf/go-nostr"
)

// Classified encodes the offer as a NIP-99 classified listing (kind 30402,
// same d tag), published beside it so that Nostr clients that show
// listings show the market: title, summary, published_at, the first price
// in SAT (with the frequency "day" for storage held per GiB-day), the
// geohash, t tags, an "a" tag naming the offer, and the offer's expiration,
// so the listing ends with it. The offer must have been published (Pubkey
// set).
func (o Offer) Classified(createdAt nostr.Timestamp) nostr.Event {
	title, summary := o.Title, o.Summary
	if title == "" {
		title = fmt.Sprintf("%s for sats", o.Resource)
	}
	if summary == "" {
		summary = o.describe()
	}
	tags := nostr.Tags{
		{"d", o.ID},
		{"title", title},
		{"summary", summary},
		{"published_at", strconv.FormatInt(int64(createdAt), 10)},
		{"t", "sovmesh"},
		{"t", string(o.Resource)},
		{"a", o.Address()},
		{"status", "active"},
		{"expiration", utoa(uint64(o.Expiration))},
		{"alt", "sovmesh market offer (NIP-99 listing): " + summary},
	}
	if len(o.Prices) > 0 {
		p := o.Prices[0]
		price := nostr.Tag{"price", satsString(p.Msat), "SAT"}
		if p.Unit == UnitGiBDay {
			price = append(price, "day")
		}
		tags = append(tags, price)
	}
	if o.Geohash != "" {
		tags = append(tags, nostr.Tag{"g", o.Geohash})
		tags = append(tags, nostr.Tag{"location", "geohash " + o.Geohash})
	}
	var b strings.Builder
	if o.Content != "" {
		b.WriteString(o.Content + "\n\n")
	}
	fmt.Fprintf(&b, "Sold on the sovmesh market for Cashu ecash; buy with agentd (offer %s).\n\nPrices:\n", o.Address())
	for _, p := range o.Prices {
		fmt.Fprintf(&b, "- %s sat per %s\n", satsString(p.Msat), p.Unit)
	}
	return nostr.Event{Kind: KindClassified, CreatedAt: createdAt, Tags: tags, Content: b.String()}
}

// satsString writes msat as sats, with up to three decimals.
func satsString(msat uint64) string {
	s := strconv.FormatUint(msat/1000, 10)
	if frac := msat % 1000; frac != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%03d", frac), "0")
	}
	return s
}
