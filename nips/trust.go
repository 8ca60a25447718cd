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
}

// ToEvent encodes the assertion as an unsigned event.
func (a UserAssertion) ToEvent(createdAt nostr.Timestamp) nostr.Event {
	return nostr.Event{Kind: KindUserAssertion, CreatedAt: createdAt, Tags: nostr.Tags{
		{"d", a.Subject},
		{"rank", strconv.Itoa(a.Rank)},
		{"alt", "sovmesh market trust rank (NIP-85)"},
	}}
}
