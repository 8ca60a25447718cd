package nips

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// LAN message types: what agentd peers found on one LAN (mDNS) exchange
// over transport's LAN protocol when no relay answers. See lan.md.
const (
	// LANEvent pushes one event addressed to the receiver (a "p" tag
	// names it): a bid to a provider, a match to a buyer.
	LANEvent = "EVENT"
	// LANReq asks the receiver for its own events matching a filter (its
	// offers, its presence beacon).
	LANReq = "REQ"
	// LANOK answers LANEvent: accepted, or refused with a NIP-01 prefixed
	// reason.
	LANOK = "OK"
	// LANEvents answers LANReq with at most MaxLANEvents events.
	LANEvents = "EVENTS"
)

// Bounds of LAN messages; a message over them is refused unread.
const (
	MaxLANMessage    = 512 << 10 // bytes of one encoded message
	MaxLANEvents     = 200       // events in one LANEvents answer
	maxLANFilterList = 100       // ids, authors, kinds or values of one tag in a filter
	maxLANFilterTags = 8         // tag names in a filter
	maxLANReason     = 400       // bytes of an OK reason
	// LANFutureSkew is how far in the future a LAN event's created_at may
	// be, as relays allow.
	LANFutureSkew = 15 * time.Minute
)

// ErrLANMessage means a LAN message is malformed or over a bound.
var ErrLANMessage = errors.New("nips: bad LAN message")

// LANMessage is one LAN protocol message, encoded as a JSON object.
type LANMessage struct {
	Type   string         `json:"type"`
	Event  *nostr.Event   `json:"event,omitempty"`
	Filter *nostr.Filter  `json:"filter,omitempty"`
	Events []*nostr.Event `json:"events,omitempty"`
	OK     bool           `json:"ok,omitempty"`
	Reason string         `json:"reason,omitempty"`
}

// Encode checks m against the bounds and encodes it.
func (m LANMessage) Encode() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLANMessage, err)
	}
	if len(b) > MaxLANMessage {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrLANMessage, len(b), MaxLANMessage)
	}
	return b, nil
}

// ParseLANMessage decodes a LAN message from an untrusted peer and checks
// its shape and bounds. The events it carries are not verified: see
// CheckLANEvent.
func ParseLANMessage(b []byte) (LANMessage, error) {
	var m LANMessage
	if len(b) > MaxLANMessage {
		return m, fmt.Errorf("%w: %d bytes, limit %d", ErrLANMessage, len(b), MaxLANMessage)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return LANMessage{}, fmt.Errorf("%w: %v", ErrLANMessage, err)
	}
	if err := m.check(); err != nil {
		return LANMessage{}, err
	}
	return m, nil
}

func (m LANMessage) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrLANMessage, m.Type, fmt.Sprintf(format, a...))
	}
	switch m.Type {
	case LANEvent:
		if m.Event == nil || m.Filter != nil || m.Events != nil {
			return bad("want one event")
		}
	case LANReq:
		if m.Filter == nil || m.Event != nil || m.Events != nil {
			return bad("want one filter")
		}
		if err := checkLANFilter(*m.Filter); err != nil {
			return bad("%v", err)
		}
	case LANOK:
		if m.Event != nil || m.Filter != nil || m.Events != nil || len(m.Reason) > maxLANReason {
			return bad("want ok and a reason of at most %d bytes", maxLANReason)
		}
	case LANEvents:
		if m.Event != nil || m.Filter != nil || len(m.Events) > MaxLANEvents {
			return bad("want at most %d events", MaxLANEvents)
		}
		for _, ev := range m.Events {
			if ev == nil {
				return bad("null event")
			}
		}
	default:
		return fmt.Errorf("%w: unknown type %q", ErrLANMessage, m.Type)
	}
	return nil
}

func checkLANFilter(f nostr.Filter) error {
	if len(f.IDs) > maxLANFilterList || len(f.Authors) > maxLANFilterList || len(f.Kinds) > maxLANFilterList {
		return fmt.Errorf("filter lists over %d entries", maxLANFilterList)
	}
	if len(f.Tags) > maxLANFilterTags {
		return fmt.Errorf("filter over %d tags", maxLANFilterTags)
	}
	for _, vs := range f.Tags {
		if len(vs) > maxLANFilterList {
			return fmt.Errorf("filter tag over %d values", maxLANFilterList)
		}
	}
	if f.Limit < 0 || f.Search != "" {
		return errors.New("filter limit negative or search set")
	}
	return nil
}

// IsLANKind reports whether peers exchange events of kind on the LAN: the
// market's offers, presence beacons, bids (plain or NIP-59 gift-wrapped)
// and matches. Receipts and attestations wait for a relay.
func IsLANKind(kind int) bool {
	switch kind {
	case KindOffer, KindPresence, KindBid, KindMatch, KindGiftWrap:
		return true
	}
	return false
}

// CheckLANEvent verifies an event received from a LAN peer as a relay
// would before storing it: a LAN kind, its id and signature, created_at
// at most LANFutureSkew ahead, not expired (NIP-40), and well formed for
// its kind (Validate). The error starts with a NIP-01 prefix.
func CheckLANEvent(ev *nostr.Event, now time.Time) error {
	if ev == nil {
		return errors.New("invalid: no event")
	}
	if !IsLANKind(ev.Kind) {
		return fmt.Errorf("blocked: kind %d is not exchanged on the LAN", ev.Kind)
	}
	if !ev.CheckID() {
		return errors.New("invalid: event id does not match its content")
	}
	if ok, err := ev.CheckSignature(); !ok || err != nil {
		return errors.New("invalid: bad signature")
	}
	if int64(ev.CreatedAt) > now.Add(LANFutureSkew).Unix() {
		return errors.New("invalid: created_at too far in the future")
	}
	if exp := ev.Tags.Find("expiration"); len(exp) > 1 {
		ts, err := strconv.ParseInt(exp[1], 10, 64)
		if err != nil {
			return errors.New("invalid: bad expiration tag")
		}
		if ts <= now.Unix() {
			return errors.New("invalid: event expired")
		}
	}
	if err := Validate(ev); err != nil {
		return fmt.Errorf("invalid: %w", err)
	}
	return nil
}
