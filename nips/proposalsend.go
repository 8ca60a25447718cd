package nips

import "github.com/nbd-wtf/go-nostr"

// MaxProposalsEnd bounds the proposals count of an end-of-proposals marker.
const MaxProposalsEnd = 1 << 20

// ProposalsEnd is a relay matching engine's end-of-proposals marker for an
// open bid (kind 8470, regular, signed by the relay): as of created_at the
// relay has no proposal of the bid awaiting its provider, and no offer in
// its book can fill what is left of the bid. Proposals is how many
// proposals of the bid the relay made in all, so a buyer that has seen
// fewer of them knows more are on their way. The relay proposes the bid
// again if its book changes (a new offer, capacity returned), and sends a
// new marker when that ends too. See proposal.md, "End of proposals".
type ProposalsEnd struct {
	Bid       string // e tag with marker "bid"
	Buyer     string // p tag: the bid's author
	Proposals uint64 // "proposals" tag
	// Expiration (NIP-40): at most MaxProposalTTL seconds after created_at.
	Expiration nostr.Timestamp

	// Set by ParseProposalsEnd from the event: the relay's key.
	Pubkey    string
	EventID   string
	CreatedAt nostr.Timestamp
}

// ToEvent encodes the marker as an unsigned event.
func (e ProposalsEnd) ToEvent(createdAt nostr.Timestamp) nostr.Event {
	return nostr.Event{Kind: KindProposalsEnd, CreatedAt: createdAt, Tags: nostr.Tags{
		{"e", e.Bid, "", "bid"},
		{"p", e.Buyer},
		{"proposals", utoa(e.Proposals)},
		{"expiration", utoa(uint64(e.Expiration))},
		{"alt", "sovmesh market: no more proposals of this bid for now"},
	}}
}

// ParseProposalsEnd reads and checks an end-of-proposals marker. Whether
// its signer is a relay the reader uses is for the reader to check.
func ParseProposalsEnd(evt *nostr.Event) (ProposalsEnd, error) {
	p := newParser("proposals_end")
	if err := p.kind(evt, KindProposalsEnd); err != nil {
		return ProposalsEnd{}, err
	}
	e := ProposalsEnd{Pubkey: evt.PubKey, EventID: evt.ID, CreatedAt: evt.CreatedAt}
	var err error
	for _, tag := range evt.Tags {
		switch tag[0] {
		case "e":
			if err = p.want(tag, 4, `["e", id, relay, "bid"]`); err != nil {
				break
			}
			switch {
			case tag[3] != "bid":
				err = perr(p.typ, "e", ErrBadValue, "marker %q, want bid", tag[3])
			case !isHex64(tag[1]):
				err = perr(p.typ, "e", ErrBadValue, "%q is not an event id", tag[1])
			default:
				if err = p.once("e bid"); err == nil {
					e.Bid = tag[1]
				}
			}
		case "p":
			if err = p.once("p"); err == nil {
				if err = p.want(tag, 2, `["p", pubkey]`); err == nil {
					e.Buyer = tag[1]
					if !isHex64(tag[1]) {
						err = perr(p.typ, "p", ErrBadValue, "%q is not a hex pubkey", tag[1])
					}
				}
			}
		case "proposals":
			if err = p.once("proposals"); err == nil {
				if err = p.want(tag, 2, `["proposals", count]`); err == nil {
					e.Proposals, err = p.uint(tag, 1, 0, MaxProposalsEnd)
				}
			}
		case "expiration":
			e.Expiration, err = p.expiration(tag, evt.CreatedAt, MaxProposalTTL)
		}
		if err != nil {
			return ProposalsEnd{}, err
		}
	}
	if err := p.require("e bid", "p", "proposals", "expiration"); err != nil {
		return ProposalsEnd{}, err
	}
	if e.Buyer == evt.PubKey {
		return ProposalsEnd{}, perr(p.typ, "p", ErrBadValue, "a relay's engine ends the proposals of a buyer's bid")
	}
	return e, nil
}
