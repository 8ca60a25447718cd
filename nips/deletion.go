package nips

import (
	"fmt"
	"strings"

	"github.com/nbd-wtf/go-nostr"
)

// Deletion is a NIP-09 deletion request as the order book reads it: the
// orders (bid ids, offer addresses) its author cancels.
type Deletion struct {
	Pubkey    string
	IDs       []string // e tags
	Addresses []string // a tags of our offers
	CreatedAt nostr.Timestamp
}

// ToEvent encodes the deletion request as an unsigned kind 5 event naming
// its ids (e tags) and addresses (a tags).
func (d Deletion) ToEvent(createdAt nostr.Timestamp, reason string) nostr.Event {
	tags := make(nostr.Tags, 0, len(d.IDs)+len(d.Addresses))
	for _, id := range d.IDs {
		tags = append(tags, nostr.Tag{"e", id})
	}
	for _, a := range d.Addresses {
		tags = append(tags, nostr.Tag{"a", a})
	}
	return nostr.Event{Kind: KindDeletion, CreatedAt: createdAt, Tags: tags, Content: reason}
}

// ParseDeletion reads the targets of a kind 5 event. Targets that are not
// hex ids or offer addresses of the author are skipped, since NIP-09 lets
// a deletion name any event; an author deletes only its own.
func ParseDeletion(evt *nostr.Event) (Deletion, error) {
	if evt == nil || evt.Kind != KindDeletion {
		return Deletion{}, &ParseError{Type: "deletion", Tag: "kind", Err: fmt.Errorf("%w: want %d", ErrWrongKind, KindDeletion)}
	}
	d := Deletion{Pubkey: evt.PubKey, CreatedAt: evt.CreatedAt}
	own := fmt.Sprintf("%d:%s:", KindOffer, evt.PubKey)
	for _, tag := range evt.Tags {
		if len(tag) < 2 {
			continue
		}
		switch tag[0] {
		case "e":
			if isHex64(tag[1]) {
				d.IDs = append(d.IDs, tag[1])
			}
		case "a":
			if strings.HasPrefix(tag[1], own) {
				d.Addresses = append(d.Addresses, tag[1])
			}
		}
	}
	return d, nil
}
