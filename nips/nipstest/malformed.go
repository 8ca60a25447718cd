package nipstest

import (
	"slices"
	"strconv"

	"github.com/nbd-wtf/go-nostr"
	"github.com/sovmesh/sovmesh/nips"
)

// Case is a malformed market event and how it must be rejected.
type Case struct {
	Name  string
	Event nostr.Event // signed, so only the protocol check can refuse it
	Want  string      // substring of the error message (and of the relay's "invalid:" reason)
	Is    error       // sentinel the error wraps
}

// edit returns a copy of the example named file with f applied to its tags,
// signed again by k.
func edit(file string, k Key, f func(nostr.Tags) nostr.Tags) nostr.Event {
	evt := ExampleEvents()[file]
	tags := make(nostr.Tags, len(evt.Tags))
	for i, t := range evt.Tags {
		tags[i] = slices.Clone(t)
	}
	evt.Tags = f(tags)
	evt.ID, evt.Sig = "", ""
	return Sign(evt, k)
}

func set(name string, vals ...string) func(nostr.Tags) nostr.Tags {
	return func(t nostr.Tags) nostr.Tags {
		for i, tag := range t {
			if tag[0] == name {
				t[i] = append(nostr.Tag{name}, vals...)
				return t
			}
		}
		return append(t, append(nostr.Tag{name}, vals...))
	}
}

func drop(name string) func(nostr.Tags) nostr.Tags {
	return func(t nostr.Tags) nostr.Tags { return t.FilterOut([]string{name}) }
}

func add(tag ...string) func(nostr.Tags) nostr.Tags {
	return func(t nostr.Tags) nostr.Tags { return append(t, nostr.Tag(tag)) }
}

func chain(fs ...func(nostr.Tags) nostr.Tags) func(nostr.Tags) nostr.Tags {
	return func(t nostr.Tags) nostr.Tags {
		for _, f := range fs {
			t = f(t)
		}
		return t
	}
}

// Malformed returns malformed events of every market type, each with the
// reason it must be rejected.
func Malformed() []Case {
	const so, bo, io = "offer-storage.json", "offer-bandwidth.json", "offer-inference.json"
	P, B := Provider, Buyer
	exp := func(ts nostr.Timestamp) string { return strconv.FormatInt(int64(ts), 10) }
	return []Case{
		{"offer/no d", edit(so, P, drop("d")), `offer: tag "d": missing required tag`, nips.ErrMissingTag},
		{"offer/no resource", edit(so, P, drop("t")), `offer: tag "t": missing required tag`, nips.ErrMissingTag},
		{"offer/wrong unit", edit(so, P, set("price", "2000", "msat", "MiB")), `storage needs a price per GiB-day`, nips.ErrMissingTag},
		{"offer/two prices", edit(so, P, add("price", "1", "msat", "MiB")), `storage is priced only per`, nips.ErrBadValue},
		{"offer/currency", edit(so, P, set("price", "2", "sats", "GiB-day")), `currency "sats", want msat`, nips.ErrBadValue},
		{"offer/price beyond 64 bits", edit(so, P, set("price", "99999999999999999999", "msat", "GiB-day")), `does not fit 64 bits`, nips.ErrOutOfRange},
		{"offer/price beyond 21M BTC", edit(so, P, set("price", "2100000000000000001", "msat", "GiB-day")), `not in [0, 2100000000000000000]`, nips.ErrOutOfRange},
		{"offer/negative price", edit(so, P, set("price", "-5", "msat", "GiB-day")), `"-5" is not a canonical decimal integer`, nips.ErrBadValue},
		{"offer/bucket", edit(so, P, set("f", "3")), `offer: tag "f": malformed value: bucket "3", want "11"`, nips.ErrBadValue},
		{"offer/min above max", edit(so, P, set("quantity", "10", "5")), `offer: tag "quantity": out of range: 5 not in [10,`, nips.ErrOutOfRange},
		{"offer/no payment", edit(so, P, drop("payment")), `offer: tag "payment": missing required tag`, nips.ErrMissingTag},
		{"offer/plain http mint", edit(bo, P, set("payment", "cashu", "http://mint.example.com", "sat")), `must be https`, nips.ErrBadValue},
		{"offer/cashu unit", edit(bo, P, set("payment", "cashu", Mint, "usd")), `cashu unit "usd", want sat or msat`, nips.ErrBadValue},
		{"offer/tier", edit(so, P, set("tier", "trunk")), `"trunk", want root, branch or leaf`, nips.ErrBadValue},
		{"offer/geohash disagree", edit(so, P, add("g", "dr")), `are not prefixes of one geohash`, nips.ErrBadValue},
		{"offer/geohash alphabet", edit(so, P, add("g", "ua")), `not in the geohash alphabet`, nips.ErrBadValue},
		{"offer/endpoint names peer", edit(bo, P, set("endpoint", "/ip4/1.2.3.4/tcp/4001/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")), `the peer ID follows from the Nostr key`, nips.ErrBadValue},
		{"offer/endpoint not multiaddr", edit(bo, P, set("endpoint", "relay.example.net:4001")), `is not a multiaddr`, nips.ErrBadValue},
		{"offer/no expiration", edit(so, P, drop("expiration")), `offer: tag "expiration": missing required tag`, nips.ErrMissingTag},
		{"offer/expiration too far", edit(so, P, set("expiration", exp(Time+31*86400))), `at most 2592000 s after it`, nips.ErrOutOfRange},
		{"offer/storage without retention", edit(so, P, drop("retention")), `tag "retention": missing required tag: a storage offer needs it`, nips.ErrMissingTag},
		{"offer/retention on bandwidth", edit(bo, P, add("retention", "86400")), `only a storage offer has it`, nips.ErrBadValue},
		{"offer/inference without model", edit(io, P, drop("model")), `an inference offer names at least one model`, nips.ErrMissingTag},
		{"offer/duplicate capacity", edit(so, P, add("capacity", "1")), `offer: tag "capacity": tag repeated`, nips.ErrDuplicateTag},

		{"presence/load", edit("presence.json", P, set("load", "101")), `presence: tag "load": out of range`, nips.ErrOutOfRange},
		{"presence/long expiration", edit("presence.json", P, set("expiration", exp(Time+7200))), `at most 3600 s after it`, nips.ErrOutOfRange},
		{"presence/no capability", edit("presence.json", P, drop("t")), `presence: tag "t": missing required tag`, nips.ErrMissingTag},

		{"bid/no expiration", edit("bid-open.json", B, drop("expiration")), `bid: tag "expiration": missing required tag`, nips.ErrMissingTag},
		{"bid/min fill above quantity", edit("bid-open.json", B, set("min_fill", "4096")), `4096 exceeds the quantity 2048`, nips.ErrOutOfRange},
		{"bid/max fill above quantity", edit("bid-open.json", B, add("max_fill", "4096")), `bid: tag "max_fill": out of range: 4096 exceeds the quantity 2048`, nips.ErrOutOfRange},
		{"bid/max fill below min fill", edit("bid-open.json", B, add("max_fill", "255")), `bid: tag "max_fill": out of range: 255 is below min_fill 256`, nips.ErrOutOfRange},
		{"bid/max fill zero", edit("bid-open.json", B, add("max_fill", "0")), `bid: tag "max_fill": out of range`, nips.ErrOutOfRange},
		{"bid/max fill repeated", edit("bid-open.json", B, chain(add("max_fill", "512"), add("max_fill", "512"))), `bid: tag "max_fill": tag repeated`, nips.ErrDuplicateTag},
		{"bid/max fill on an offer", edit("bid-offer.json", B, add("max_fill", "5")), `only an open bid caps its fills`, nips.ErrBadValue},
		{"bid/total overflows", edit("bid-open.json", B, chain(set("quantity", "1125899906842624"), drop("min_fill"), set("max_price", "2100000000000000000", "msat", "MiB"))), `quantity x max_price exceeds 21M BTC`, nips.ErrOverflow},
		{"bid/provider is not offer author", edit("bid-offer.json", B, set("p", Relay.Public)), `is not the author of offer`, nips.ErrBadValue},
		{"bid/storage without duration", edit("bid-offer.json", B, drop("duration")), `a storage bid says how long to keep the data`, nips.ErrMissingTag},
		{"bid/open bid names provider", edit("bid-open.json", B, add("p", Provider.Public)), `an open bid names no provider`, nips.ErrBadValue},
		{"bid/min trust", edit("bid-open.json", B, set("min_trust", "101")), `bid: tag "min_trust": out of range`, nips.ErrOutOfRange},
		{"bid/bad address", edit("bid-offer.json", B, set("a", "30402:"+Provider.Public+":x")), `is not an offer address`, nips.ErrBadValue},

		{"match/amount", edit("match.json", P, set("amount", "1")), `1 msat, but quantity and price make 600000 msat`, nips.ErrBadValue},
		{"match/provider without request", edit("match.json", P, drop("payment_request")), `a match signed by the provider carries the payment request`, nips.ErrMissingTag},
		{"match/request type", edit("match.json", P, set("payment_request", "lnbc10n1pjexample")), `a Cashu match wants a NUT-18 payment request`, nips.ErrBadValue},
		{"match/long expiration", edit("match.json", P, set("expiration", exp(Time+6+7200))), `at most 3600 s after it`, nips.ErrOutOfRange},
		{"match/no session", edit("match.json", P, drop("session")), `match: tag "session": missing required tag`, nips.ErrMissingTag},
		{"match/signed by the relay", edit("match.json", Relay, drop("payment_request")), `a match is signed by the provider`, nips.ErrBadValue},
		{"proposal/payment request", edit("proposal.json", Relay, add("payment_request", "creqAx")), `a proposal carries no payment request`, nips.ErrBadValue},
		{"proposal/no session", edit("proposal.json", Relay, drop("session")), `proposal: tag "session": missing required tag`, nips.ErrMissingTag},
		{"proposal/long expiration", edit("proposal.json", Relay, set("expiration", exp(Time+5+601))), `at most 600 s after it`, nips.ErrOutOfRange},
		{"proposal/by the provider", edit("proposal.json", P, func(t nostr.Tags) nostr.Tags { return t }), `a provider confirms with a match`, nips.ErrBadValue},
		{"refusal/no proposal", edit("refusal.json", P, func(t nostr.Tags) nostr.Tags { return t[1:] }), `refusal: tag "e proposal": missing required tag`, nips.ErrMissingTag},
		{"refusal/proposal and match", edit("refusal.json", P, func(t nostr.Tags) nostr.Tags {
			return append(t, nostr.Tag{"e", "cde2e8a964ed00dd1b0ce354c96452568cc5d2924c221e02d418edb75603f395", "", "match"})
		}), `only one of them`, nips.ErrBadValue},
		{"refusal/long expiration", edit("refusal.json", P, set("expiration", exp(Time+6+601))), `at most 600 s after it`, nips.ErrOutOfRange},
		{"decline/no session", edit("decline.json", B, drop("session")), `refusal: tag "session": missing required tag`, nips.ErrMissingTag},
		{"decline/own match", edit("decline.json", B, set("p", B.Public)), `a buyer declines another key's match`, nips.ErrBadValue},
		{"decline/long expiration", edit("decline.json", B, set("expiration", exp(Time+7+3601))), `at most 3600 s after it`, nips.ErrOutOfRange},
		{"release/no bid", edit("release.json", P, func(t nostr.Tags) nostr.Tags { return slices.Delete(t, 1, 2) }), `refusal: tag "e bid": missing required tag`, nips.ErrMissingTag},
		{"release/to itself", edit("release.json", P, set("p", P.Public)), `a provider releases its match to the match's buyer`, nips.ErrBadValue},
		{"release/and decline", edit("release.json", P, func(t nostr.Tags) nostr.Tags {
			return append(t, nostr.Tag{"e", "cde2e8a964ed00dd1b0ce354c96452568cc5d2924c221e02d418edb75603f395", "", "match"})
		}), `only one of them`, nips.ErrBadValue},
		{"release/long expiration", edit("release.json", P, set("expiration", exp(Time+8+3601))), `at most 3600 s after it`, nips.ErrOutOfRange},
		{"refusal/own proposal", edit("refusal.json", P, set("p", P.Public)), `a provider refuses another key's proposal`, nips.ErrBadValue},

		{"receipt/forged countersig", edit("receipt.json", P, func(t nostr.Tags) nostr.Tags {
			return set("paid", "1")(t) // the buyer countersigned another amount
		}), `receipt: tag "countersig": countersignature does not verify`, nips.ErrBadCountersig},
		{"receipt/paid beyond 21M BTC", edit("receipt.json", P, chain(drop("countersig"), set("paid", "2100000000000000001"))), `receipt: tag "paid": out of range`, nips.ErrOutOfRange},
		{"receipt/buyer is provider", edit("receipt.json", P, chain(drop("countersig"), set("p", P.Public))), `the buyer is the provider`, nips.ErrBadValue},

		{"attestation/self", edit("attestation.json", B, set("p", B.Public)), `a key does not rate itself`, nips.ErrBadValue},
		{"attestation/failed rated", edit("attestation.json", B, set("l", "failed", nips.TrustLabelNamespace)), `a failed session is rated 0`, nips.ErrOutOfRange},
		{"attestation/rating", edit("attestation.json", B, set("rating", "101")), `attestation: tag "rating": out of range`, nips.ErrOutOfRange},
		{"attestation/no outcome", edit("attestation.json", B, drop("l")), `attestation: tag "l": missing required tag`, nips.ErrMissingTag},

		{"topup/no token", edit("topup.json", P, drop("cashu")), `topup: tag "cashu": missing required tag`, nips.ErrMissingTag},
		{"topup/two tokens", edit("topup.json", P, add("cashu", Token)), `topup: tag "cashu": tag repeated`, nips.ErrDuplicateTag},
		{"topup/not a token", edit("topup.json", P, set("cashu", "lnbc10n1pjexample")), `want a cashuA or cashuB token`, nips.ErrBadValue},
		{"topup/not base64", edit("topup.json", P, set("cashu", "cashuB{not base64}")), `token is not base64`, nips.ErrBadValue},
	}
}
