package nips

import (
	"strconv"

	"github.com/nbd-wtf/go-nostr"
)

// UserAssertion is a NIP-85 trusted assertion about one pubkey (kind 30382,
// addressable, d = the subject): the market trust rank the signer (a relay)
// computes for it from settled receipts. See trust.md.
type UserAssertion struct {
	Subject string // hex pubkey
	Rank    int    // 0-100

	// Set by ParseUserAssertion from the event.
	Pubkey    string
	CreatedAt nostr.Timestamp
}

// ToEvent encodes the assertion as an unsigned event.
func (a UserAssertion) ToEvent(createdAt nostr.Timestamp) nostr.Event {
	return nostr.Event{Kind: KindUserAssertion, CreatedAt: createdAt, Tags: nostr.Tags{
		{"d", a.Subject},
		{"rank", strconv.Itoa(a.Rank)},
		{"alt", "sovmesh market trust rank (NIP-85)"},
	}}
}

// ParseUserAssertion reads an assertion: a d tag holding a pubkey and one
// rank from 0 to 100.
func ParseUserAssertion(evt *nostr.Event) (UserAssertion, error) {
	p := newParser("user assertion")
	if err := p.kind(evt, KindUserAssertion); err != nil {
		return UserAssertion{}, err
	}
	a := UserAssertion{Pubkey: evt.PubKey, CreatedAt: evt.CreatedAt}
	for _, tag := range evt.Tags {
		if len(tag) == 0 {
			continue
		}
		switch tag[0] {
		case "d":
			if err := p.once("d"); err != nil {
				return UserAssertion{}, err
			}
			if err := p.want(tag, 2, `["d", pubkey]`); err != nil {
				return UserAssertion{}, err
			}
			if !nostr.IsValid32ByteHex(tag[1]) {
				return UserAssertion{}, perr(p.typ, "d", ErrBadValue, "not a hex pubkey")
			}
			a.Subject = tag[1]
		case "rank":
			if err := p.once("rank"); err != nil {
				return UserAssertion{}, err
			}
			if err := p.want(tag, 2, `["rank", 0-100]`); err != nil {
				return UserAssertion{}, err
			}
			r, err := p.uint(tag, 1, 0, 100)
			if err != nil {
				return UserAssertion{}, err
			}
			a.Rank = int(r)
		}
	}
	if err := p.require("d", "rank"); err != nil {
		return UserAssertion{}, err
	}
	return a, nil
}
