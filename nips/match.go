package nips

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"

	"github.com/nbd-wtf/go-nostr"
)

// MaxMatchTTL bounds a match's expiration: the buyer pays within an hour or
// the match lapses and the provider's capacity is free again.
const MaxMatchTTL = 3600

// MaxPaymentRequestLen bounds a payment request (a BOLT11 invoice or a
// NUT-18 "creqA" request).
const MaxPaymentRequestLen = 4096

// Match is the agreement between a buyer and a provider (kind 8461,
// regular), always signed by the provider: every session starts from
// exactly one. A relay's matching engine proposes fills of open bids as
// Proposals, which the provider confirms with its Match. See match.md.
type Match struct {
	Bid      string   // e tag with marker "bid": the bid's event id
	Offer    string   // a tag: the offer's address
	Buyer    string   // p tag with marker "buyer"
	Provider string   // p tag with marker "provider"
	Resource Resource // t tag
	Prices   Prices   // price tags: the agreed prices (the offer's)
	Quantity uint64
	Duration uint64 // seconds, as in the bid (0 = not given)
	Amount   uint64 // millisats due: Cost(Resource, Prices, Quantity, Duration)
	Session  string // 32 random or derived bytes, hex: names the session end to end
	Payment  Payment
	// PaymentRequest is a BOLT11 invoice (Payment.Method lightning) or a
	// NUT-18 Cashu payment request "creqA..." (cashu). Required in a match;
	// absent from a proposal.
	PaymentRequest string
	Expiration     nostr.Timestamp

	// Set by ParseMatch from the event: the signer (the provider; for a
	// Proposal, the relay).
	Pubkey    string
	EventID   string
	CreatedAt nostr.Timestamp
}

// SessionID derives a session id from a bid id, an offer address and the
// quantity of the bid filled before this fill, so that a matching engine
// that replays the same events names the same sessions.
func SessionID(bidID, offerAddr string, filledBefore uint64) string {
	h := sha256.New()
	h.Write([]byte("sovmesh-session\x00"))
	h.Write([]byte(bidID))
	h.Write([]byte{0})
	h.Write([]byte(offerAddr))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], filledBefore)
	h.Write(n[:])
	return hex.EncodeToString(h.Sum(nil))
}

// ToEvent encodes the match as an unsigned event.
func (m Match) ToEvent(createdAt nostr.Timestamp) nostr.Event {
	tags := nostr.Tags{
		{"e", m.Bid, "", "bid"},
		{"a", m.Offer},
		{"p", m.Buyer, "", "buyer"},
		{"p", m.Provider, "", "provider"},
		{"t", string(m.Resource)},
	}
	tags = append(tags, priceTags("price", m.Prices)...)
	tags = append(tags, nostr.Tag{"quantity", utoa(m.Quantity)})
	if m.Duration > 0 {
		tags = append(tags, nostr.Tag{"duration", utoa(m.Duration)})
	}
	tags = append(tags,
		nostr.Tag{"amount", utoa(m.Amount)},
		nostr.Tag{"session", m.Session},
		m.Payment.Tag(),
	)
	if m.PaymentRequest != "" {
		tags = append(tags, nostr.Tag{"payment_request", m.PaymentRequest})
	}
	tags = append(tags,
		nostr.Tag{"expiration", utoa(uint64(m.Expiration))},
		nostr.Tag{"alt", "sovmesh market match: " + string(m.Resource) + " session " + m.Session},
	)
	return nostr.Event{Kind: KindMatch, CreatedAt: createdAt, Tags: tags}
}

// ParseMatch reads and checks a match.
func ParseMatch(evt *nostr.Event) (Match, error) {
	m, err := parseTerms(evt, KindMatch, "match", MaxMatchTTL)
	if err != nil {
		return Match{}, err
	}
	if evt.PubKey != m.Provider {
		return Match{}, perr("match", "p", ErrBadValue, "a match is signed by the provider; a relay's engine publishes a proposal (kind %d)", KindProposal)
	}
	if m.PaymentRequest == "" {
		return Match{}, perr("match", "payment_request", ErrMissingTag, "a match signed by the provider carries the payment request")
	}
	return m, nil
}

// parseTerms reads the terms a match and a proposal share from an event of
// kind, whose expiration is at most maxTTL after created_at.
func parseTerms(evt *nostr.Event, kind int, typ string, maxTTL uint64) (Match, error) {
	p := newParser(typ)
	if err := p.kind(evt, kind); err != nil {
		return Match{}, err
	}
	m := Match{Pubkey: evt.PubKey, EventID: evt.ID, CreatedAt: evt.CreatedAt}
	var (
		prices Prices
		err    error
	)
	for _, tag := range evt.Tags {
		switch tag[0] {
		case "e":
			if err = p.want(tag, 2, `["e", bid_id, relay, "bid"]`); err == nil && (len(tag) < 4 || tag[3] == "bid") {
				if err = p.once("e"); err == nil {
					m.Bid = tag[1]
					if !isHex64(tag[1]) {
						err = perr(p.typ, "e", ErrBadValue, "%q is not an event id", tag[1])
					}
				}
			}
		case "a":
			if err = p.once("a"); err == nil {
				if err = p.want(tag, 2, `["a", "38460:<pubkey>:<d>"]`); err == nil {
					m.Offer = tag[1]
					var prov string
					prov, _, err = ParseOfferAddress(tag[1])
					err = p.wrap("a", err)
					if err == nil && m.Provider != "" && prov != m.Provider {
						err = perr(p.typ, "a", ErrBadValue, "offer is not the provider's")
					}
					m.Provider = prov
				}
			}
		case "p":
			if err = p.want(tag, 4, `["p", pubkey, relay, "buyer"|"provider"]`); err == nil {
				if !isHex64(tag[1]) {
					err = perr(p.typ, "p", ErrBadValue, "%q is not a hex pubkey", tag[1])
					break
				}
				switch tag[3] {
				case "buyer":
					if err = p.once("p buyer"); err == nil {
						m.Buyer = tag[1]
					}
				case "provider":
					if err = p.once("p provider"); err == nil {
						if m.Provider != "" && m.Provider != tag[1] {
							err = perr(p.typ, "p", ErrBadValue, "provider %s is not the author of the offer", tag[1])
						}
						m.Provider = tag[1]
					}
				default:
					err = perr(p.typ, "p", ErrBadValue, "marker %q, want buyer or provider", tag[3])
				}
			}
		case "t":
			m.Resource, err = p.resource(tag, m.Resource)
		case "price":
			prices, err = p.price(tag, prices)
		case "quantity":
			if err = p.once("quantity"); err == nil {
				if err = p.want(tag, 2, `["quantity", units]`); err == nil {
					m.Quantity, err = p.uint(tag, 1, 1, MaxQuantity)
				}
			}
		case "duration":
			if err = p.once("duration"); err == nil {
				if err = p.want(tag, 2, `["duration", seconds]`); err == nil {
					m.Duration, err = p.uint(tag, 1, 1, MaxDuration)
				}
			}
		case "amount":
			if err = p.once("amount"); err == nil {
				if err = p.want(tag, 2, `["amount", msat]`); err == nil {
					m.Amount, err = p.uint(tag, 1, 0, MaxMsat)
				}
			}
		case "session":
			if err = p.once("session"); err == nil {
				if err = p.want(tag, 2, `["session", hex32]`); err == nil {
					m.Session = tag[1]
					if !isHex64(tag[1]) {
						err = perr(p.typ, "session", ErrBadValue, "want 64 lowercase hex digits")
					}
				}
			}
		case "payment":
			if err = p.once("payment"); err == nil {
				m.Payment, err = parsePayment(tag)
				err = p.wrap("payment", err)
			}
		case "payment_request":
			if err = p.once("payment_request"); err == nil {
				if err = p.want(tag, 2, `["payment_request", bolt11_or_creqA]`); err == nil {
					m.PaymentRequest = tag[1]
				}
			}
		case "expiration":
			m.Expiration, err = p.expiration(tag, evt.CreatedAt, maxTTL)
		}
		if err != nil {
			return Match{}, err
		}
	}
	if m.Resource == "" {
		return Match{}, perr(p.typ, "t", ErrMissingTag, "one t tag must name the resource")
	}
	if err := p.require("e", "a", "p buyer", "quantity", "amount", "session", "payment", "expiration"); err != nil {
		return Match{}, err
	}
	if m.Buyer == m.Provider {
		return Match{}, perr(p.typ, "p", ErrBadValue, "buyer and provider are the same key")
	}
	if m.Prices, err = p.checkPrices("price", m.Resource, prices); err != nil {
		return Match{}, err
	}
	if m.Resource == Storage && m.Duration == 0 {
		return Match{}, perr(p.typ, "duration", ErrMissingTag, "a storage match says how long the data is kept")
	}
	cost, err := Cost(m.Resource, m.Prices, m.Quantity, m.Duration)
	if err != nil {
		return Match{}, perr(p.typ, "amount", ErrOverflow, "quantity x price exceeds 21M BTC")
	}
	if m.Amount != cost {
		return Match{}, perr(p.typ, "amount", ErrBadValue, "%d msat, but quantity and price make %d msat", m.Amount, cost)
	}
	if err := checkPaymentRequest(m.Payment, m.PaymentRequest); err != nil {
		return Match{}, p.wrap("payment_request", err)
	}
	return m, nil
}

// checkPaymentRequest checks the shape of a payment request for a method:
// a bech32 BOLT11 invoice for Lightning, a NUT-18 "creqA" request for Cashu.
// Amount and signature checks belong to the payer (market/pay).
func checkPaymentRequest(pay Payment, req string) error {
	if req == "" {
		return nil
	}
	if len(req) > MaxPaymentRequestLen {
		return ErrOutOfRange
	}
	switch pay.Method {
	case PayLightning:
		lower := strings.ToLower(req)
		if lower != req && strings.ToUpper(req) != req {
			return ErrBadValue
		}
		for _, hrp := range []string{"lnbcrt", "lntbs", "lnbc", "lntb", "lnsb"} {
			if strings.HasPrefix(lower, hrp) {
				return nil
			}
		}
		return errBOLT11
	case PayCashu:
		if strings.HasPrefix(req, "creqA") && len(req) > 5 {
			return nil
		}
		return errCreq
	}
	return ErrBadValue
}

var (
	errBOLT11 = wrapf(ErrBadValue, "a Lightning match wants a BOLT11 invoice (lnbc..., lntb..., lntbs..., lnbcrt...)")
	errCreq   = wrapf(ErrBadValue, "a Cashu match wants a NUT-18 payment request (creqA...)")
)
