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

// Refusal is a provider's refusal of a proposal (kind 8469, regular),
// signed by the provider the proposal named: the proposing relay puts the
// bid back in its book, tries it on its next offer, and restores the
// offer's capacity. See proposal.md.
type Refusal struct {
	Proposal string // e tag with marker "proposal": the proposal's event id
	Bid      string // e tag with marker "bid": the proposal's bid
	Relay    string // p tag: the proposal's author
	Session  string // the proposal's session
	Reason   string // why, for people: at most MaxTextLen bytes
	// Expiration (NIP-40): at most MaxProposalTTL seconds after created_at.
	Expiration nostr.Timestamp

	// Set by ParseRefusal from the event: the provider.
	Pubkey    string
	EventID   string
	CreatedAt nostr.Timestamp
}

// ToEvent encodes the refusal as an unsigned event.
func (r Refusal) ToEvent(createdAt nostr.Timestamp) nostr.Event {
	tags := nostr.Tags{
		{"e", r.Proposal, "", "proposal"},
		{"e", r.Bid, "", "bid"},
		{"p", r.Relay},
		{"session", r.Session},
	}
	if r.Reason != "" {
		tags = append(tags, nostr.Tag{"reason", r.Reason})
	}
	tags = append(tags,
		nostr.Tag{"expiration", utoa(uint64(r.Expiration))},
		nostr.Tag{"alt", "sovmesh market refusal of a proposal"},
	)
	return nostr.Event{Kind: KindRefusal, CreatedAt: createdAt, Tags: tags}
}

// ParseRefusal reads and checks a refusal.
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
			if err = p.want(tag, 4, `["e", id, relay, "proposal"|"bid"]`); err != nil {
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
			case "bid":
				if err = p.once("e bid"); err == nil {
					r.Bid = tag[1]
				}
			default:
				err = perr(p.typ, "e", ErrBadValue, "marker %q, want proposal or bid", tag[3])
			}
		case "p":
			if err = p.once("p"); err == nil {
				if err = p.want(tag, 2, `["p", relay_pubkey]`); err == nil {
					r.Relay = tag[1]
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
			r.Expiration, err = p.expiration(tag, evt.CreatedAt, MaxProposalTTL)
		}
		if err != nil {
			return Refusal{}, err
		}
	}
	if err := p.require("e proposal", "e bid", "p", "session", "expiration"); err != nil {
		return Refusal{}, err
	}
	if r.Relay == evt.PubKey {
		return Refusal{}, perr(p.typ, "p", ErrBadValue, "a provider refuses another key's proposal")
	}
	return r, nil
}
