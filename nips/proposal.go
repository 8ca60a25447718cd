package nips

import "github.com/nbd-wtf/go-nostr"

// MaxProposalTTL bounds a proposal's expiration: a provider confirms or
// refuses within ten minutes, or the proposing relay puts the bid back in
// its book and the offer's capacity back on sale.
const MaxProposalTTL = 600

// Proposal is a relay matching engine's proposed fill of an open bid from
// one offer (kind 8468, regular), signed by the relay. It carries a match's
// terms without a payment request. The offer's provider confirms it by
// publishing its own Match of the same session (the only Match of the
// session) or refuses it with a Refusal; a relay that sees neither before
// the proposal's expiration treats it as refused. See proposal.md.
type Proposal struct {
	// Match holds the proposed terms; its PaymentRequest is empty and its
	// Pubkey is the proposing relay's.
	Match
}

// ToEvent encodes the proposal as an unsigned event.
func (p Proposal) ToEvent(createdAt nostr.Timestamp) nostr.Event {
	m := p.Match
	m.PaymentRequest = ""
	evt := m.ToEvent(createdAt)
	evt.Kind = KindProposal
	evt.Tags[len(evt.Tags)-1] = nostr.Tag{"alt", "sovmesh market proposal: " + string(m.Resource) + " session " + m.Session}
	return evt
}

// Confirm returns the provider's Match confirming the proposal: the same
// bid, offer, session and terms, with the provider's payment request and
// expiration.
func (p Proposal) Confirm(paymentRequest string, expiration nostr.Timestamp) Match {
	m := p.Match
	m.PaymentRequest, m.Expiration = paymentRequest, expiration
	m.Pubkey, m.EventID, m.CreatedAt = "", "", 0
	return m
}

// ParseProposal reads and checks a proposal.
func ParseProposal(evt *nostr.Event) (Proposal, error) {
	m, err := parseTerms(evt, KindProposal, "proposal", MaxProposalTTL)
	if err != nil {
		return Proposal{}, err
	}
	if m.PaymentRequest != "" {
		return Proposal{}, perr("proposal", "payment_request", ErrBadValue, "a proposal carries no payment request: the provider's match does")
	}
	if evt.PubKey == m.Provider {
		return Proposal{}, perr("proposal", "p", ErrBadValue, "a provider confirms with a match, not a proposal")
	}
	return Proposal{Match: m}, nil
}

// Refusal is kind 8469 (regular), in one of three forms. A provider's
// refusal of a proposal (Proposal set), signed by the provider the proposal
// named: the proposing relay puts the bid back in its book, tries it on its
// next offer, and restores the offer's capacity. A buyer's decline of a
// provider's match (Match set), signed by the bid's buyer: the buyer will
// not pay that match, and the provider releases the capacity it holds for
// it at once. A provider's release of its own match (Release set), signed
// by the provider: the match lapsed unpaid at the end of its payment
// window, and the relays' books return its quantity to the offer. See
// proposal.md.
type Refusal struct {
	Proposal string // e tag with marker "proposal": the refused proposal's event id
	Match    string // e tag with marker "match": the declined match's event id
	Release  string // e tag with marker "release": the released (lapsed) match's event id
	Bid      string // e tag with marker "bid": the proposal's or the match's bid
	// p tag: the proposal's author (the relay), the declined match's
	// provider, or the released match's buyer.
	To      string
	Session string // the proposal's or the match's session
	Reason  string // why, for people: at most MaxTextLen bytes
	// Expiration (NIP-40): at most MaxProposalTTL seconds after created_at
	// for a refusal, MaxMatchTTL for a decline or a release.
	Expiration nostr.Timestamp

	// Set by ParseRefusal from the event: the provider (refusal, release)
	// or the buyer (decline).
	Pubkey    string
	EventID   string
	CreatedAt nostr.Timestamp
}

// IsDecline reports whether r is a buyer's decline of a match.
func (r Refusal) IsDecline() bool { return r.Match != "" }

// IsRelease reports whether r is a provider's release of its own lapsed
// match.
func (r Refusal) IsRelease() bool { return r.Release != "" }

// ToEvent encodes the refusal, decline or release as an unsigned event.
func (r Refusal) ToEvent(createdAt nostr.Timestamp) nostr.Event {
	first, alt := nostr.Tag{"e", r.Proposal, "", "proposal"}, "sovmesh market refusal of a proposal"
	switch {
	case r.IsDecline():
		first, alt = nostr.Tag{"e", r.Match, "", "match"}, "sovmesh market decline of a match"
	case r.IsRelease():
		first, alt = nostr.Tag{"e", r.Release, "", "release"}, "sovmesh market release of a lapsed match"
	}
	tags := nostr.Tags{
		first,
		{"e", r.Bid, "", "bid"},
		{"p", r.To},
		{"session", r.Session},
	}
	if r.Reason != "" {
		tags = append(tags, nostr.Tag{"reason", r.Reason})
	}
	tags = append(tags,
		nostr.Tag{"expiration", utoa(uint64(r.Expiration))},
		nostr.Tag{"alt", alt},
	)
	return nostr.Event{Kind: KindRefusal, CreatedAt: createdAt, Tags: tags}
}

// ParseRefusal reads and checks a refusal, a decline or a release. Who may
// sign one (the proposal's provider, the bid's buyer, the match's
// provider) is for the reader to check against the proposal or match it
// names.
func ParseRefusal(evt *nostr.Event) (Refusal, error) {
	p := newParser("refusal")
	if err := p.kind(evt, KindRefusal); err != nil {
		return Refusal{}, err
	}
	r := Refusal{Pubkey: evt.PubKey, EventID: evt.ID, CreatedAt: evt.CreatedAt}
	var err error
	for _, tag := range evt.Tags {
		switch tag[0] {
		case "e":
			if err = p.want(tag, 4, `["e", id, relay, "proposal"|"match"|"release"|"bid"]`); err != nil {
				break
			}
			if !isHex64(tag[1]) {
				err = perr(p.typ, "e", ErrBadValue, "%q is not an event id", tag[1])
				break
			}
			switch tag[3] {
			case "proposal":
				if err = p.once("e proposal"); err == nil {
					r.Proposal = tag[1]
				}
			case "match":
				if err = p.once("e match"); err == nil {
					r.Match = tag[1]
				}
			case "release":
				if err = p.once("e release"); err == nil {
					r.Release = tag[1]
				}
			case "bid":
				if err = p.once("e bid"); err == nil {
					r.Bid = tag[1]
				}
			default:
				err = perr(p.typ, "e", ErrBadValue, "marker %q, want proposal, match, release or bid", tag[3])
			}
		case "p":
			if err = p.once("p"); err == nil {
				if err = p.want(tag, 2, `["p", pubkey]`); err == nil {
					r.To = tag[1]
					if !isHex64(tag[1]) {
						err = perr(p.typ, "p", ErrBadValue, "%q is not a hex pubkey", tag[1])
					}
				}
			}
		case "session":
			if err = p.once("session"); err == nil {
				if err = p.want(tag, 2, `["session", hex32]`); err == nil {
					r.Session = tag[1]
					if !isHex64(tag[1]) {
						err = perr(p.typ, "session", ErrBadValue, "want 64 lowercase hex digits")
					}
				}
			}
		case "reason":
			if err = p.once("reason"); err == nil {
				if err = p.want(tag, 2, `["reason", text]`); err == nil {
					r.Reason = tag[1]
					err = p.wrap("reason", checkText(tag[1], MaxTextLen))
				}
			}
		case "expiration":
			r.Expiration, err = p.expiration(tag, evt.CreatedAt, MaxMatchTTL)
		}
		if err != nil {
			return Refusal{}, err
		}
	}
	forms := 0
	for _, id := range []string{r.Proposal, r.Match, r.Release} {
		if id != "" {
			forms++
		}
	}
	switch {
	case forms > 1:
		return Refusal{}, perr(p.typ, "e", ErrBadValue, "refuses a proposal, declines a match or releases one, only one of them")
	case r.Release != "":
		if err := p.require("e release", "e bid", "p", "session", "expiration"); err != nil {
			return Refusal{}, err
		}
		if r.To == evt.PubKey {
			return Refusal{}, perr(p.typ, "p", ErrBadValue, "a provider releases its match to the match's buyer")
		}
		return r, nil
	case r.Match != "":
		if err := p.require("e match", "e bid", "p", "session", "expiration"); err != nil {
			return Refusal{}, err
		}
		if r.To == evt.PubKey {
			return Refusal{}, perr(p.typ, "p", ErrBadValue, "a buyer declines another key's match")
		}
		return r, nil
	}
	if err := p.require("e proposal", "e bid", "p", "session", "expiration"); err != nil {
		return Refusal{}, err
	}
	if evt.CreatedAt > 0 && uint64(r.Expiration)-uint64(evt.CreatedAt) > MaxProposalTTL {
		return Refusal{}, perr(p.typ, "expiration", ErrOutOfRange, "must be after created_at and at most %d s after it", MaxProposalTTL)
	}
	if r.To == evt.PubKey {
		return Refusal{}, perr(p.typ, "p", ErrBadValue, "a provider refuses another key's proposal")
	}
	return r, nil
}
