package nips

import (
	"strings"

	"github.com/nbd-wtf/go-nostr"
)

// MaxTokenLen bounds the Cashu token of a top-up, in bytes. A relay's own
// limit on tag values (NIP-11 limitation) may be lower.
const MaxTokenLen = 64 << 10

// TopUp asks a relay to credit a prepaid fee balance with a Cashu token
// (kind 28460, ephemeral): the balance of the NIP-42 authenticated key of
// the connection, or without AUTH of the author. The relay answers with OK
// and neither stores nor broadcasts it. See topup.md.
type TopUp struct {
	// Token is a cashuA/cashuB token in sat, from a mint the relay accepts
	// (NIP-11 `mints`). Best locked (NUT-11 P2PK) to the relay's pubkey.
	Token string

	// Set by ParseTopUp from the event.
	Pubkey    string
	EventID   string
	CreatedAt nostr.Timestamp
}

// ToEvent encodes the top-up as an unsigned event.
func (t TopUp) ToEvent(createdAt nostr.Timestamp) nostr.Event {
	return nostr.Event{Kind: KindTopUp, CreatedAt: createdAt, Tags: nostr.Tags{
		{"cashu", t.Token},
		{"alt", "sovmesh prepaid fee top-up"},
	}}
}

// ParseTopUp reads and checks a top-up: exactly one cashu tag whose value
// looks like a token (prefix, size, characters). Whether the token is worth
// anything only the mint can say. Errors never quote the token.
func ParseTopUp(evt *nostr.Event) (TopUp, error) {
	p := newParser("topup")
	if err := p.kind(evt, KindTopUp); err != nil {
		return TopUp{}, err
	}
	t := TopUp{Pubkey: evt.PubKey, EventID: evt.ID, CreatedAt: evt.CreatedAt}
	for _, tag := range evt.Tags {
		if tag[0] != "cashu" {
			continue
		}
		if err := p.once("cashu"); err != nil {
			return TopUp{}, err
		}
		if err := p.want(tag, 2, `["cashu", token]`); err != nil {
			return TopUp{}, err
		}
		if err := checkToken(tag[1]); err != nil {
			return TopUp{}, p.wrap("cashu", err)
		}
		t.Token = tag[1]
	}
	if err := p.require("cashu"); err != nil {
		return TopUp{}, err
	}
	return t, nil
}

// checkToken checks the shape of a serialized Cashu token (NUT-00 V3
// cashuA or V4 cashuB, base64 or base64url) without quoting it.
func checkToken(s string) error {
	if len(s) > MaxTokenLen {
		return wrapf(ErrOutOfRange, "token longer than %d bytes", MaxTokenLen)
	}
	if !strings.HasPrefix(s, "cashuA") && !strings.HasPrefix(s, "cashuB") {
		return wrapf(ErrBadValue, "want a cashuA or cashuB token")
	}
	if len(s) == len("cashuA") {
		return wrapf(ErrBadValue, "empty token")
	}
	for _, c := range s[len("cashuA"):] {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '+', c == '/', c == '=':
		default:
			return wrapf(ErrBadValue, "token is not base64")
		}
	}
	return nil
}
