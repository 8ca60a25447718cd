package eventsql

import (
	"bytes"
	"fmt"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip40"

	"github.com/sovmesh/sovmesh/relay/storeerr"
)

// Row is an event encoded for the events and tags tables.
type Row struct {
	ID, PubKey  []byte
	CreatedAt   int64
	Kind        int
	ExpiresAt   *int64 // NIP-40 expiration; nil: none
	Addressable bool   // the kind is addressable; DTag is its address
	DTag        string // "" is the address of no d tag
	Raw         []byte // the JSON nostr.Event.MarshalJSON writes
	Tags        [][2]string
}

// Encode validates evt and encodes it. Tags holds the indexed tags (one-byte
// name, value), each once. An id or pubkey that is not 64 lowercase hex
// characters fails with storeerr.ErrInvalidEvent.
func Encode(evt *nostr.Event) (*Row, error) {
	if evt == nil {
		return nil, fmt.Errorf("%w: nil event", storeerr.ErrInvalidEvent)
	}
	id, err := DecodeID(evt.ID)
	if err != nil {
		return nil, err
	}
	pk, ok := decodeHex32(evt.PubKey)
	if !ok {
		return nil, fmt.Errorf("%w: pubkey %q is not 64 lowercase hex characters", storeerr.ErrInvalidEvent, clip(evt.PubKey))
	}
	raw, err := evt.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%w: encode json: %v", storeerr.ErrInvalidEvent, err)
	}
	r := &Row{ID: id, PubKey: pk, CreatedAt: int64(evt.CreatedAt), Kind: evt.Kind, Raw: raw}
	if exp := nip40.GetExpiration(evt.Tags); exp != -1 {
		v := int64(exp)
		r.ExpiresAt = &v
	}
	if nostr.IsAddressableKind(evt.Kind) {
		r.Addressable = true
		r.DTag = evt.Tags.GetD()
	}
	seen := make(map[[2]string]struct{}, len(evt.Tags))
	for _, tag := range evt.Tags {
		if len(tag) < 2 || !isIndexedTag(tag[0]) {
			continue
		}
		k := [2]string{tag[0], tag[1]}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		r.Tags = append(r.Tags, k)
	}
	return r, nil
}

// DecodeID decodes an event id, failing with storeerr.ErrInvalidEvent.
func DecodeID(s string) ([]byte, error) {
	id, ok := decodeHex32(s)
	if !ok {
		return nil, fmt.Errorf("%w: id %q is not 64 lowercase hex characters", storeerr.ErrInvalidEvent, clip(s))
	}
	return id, nil
}

// isIndexedTag reports whether tags named name are in the tags table.
func isIndexedTag(name string) bool { return len(name) == 1 }

// decodeHex32 decodes 64 lowercase hex characters. Uppercase is refused so
// that every stored id and pubkey has one spelling, the one Filter.Matches
// compares against.
func decodeHex32(s string) ([]byte, bool) {
	if len(s) != 64 {
		return nil, false
	}
	out := make([]byte, 32)
	for i := 0; i < 32; i++ {
		hi, ok1 := hexVal(s[2*i])
		lo, ok2 := hexVal(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		out[i] = hi<<4 | lo
	}
	return out, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// clip shortens untrusted strings quoted in errors.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Version is how a stored event at a replaceable or addressable address
// compares with a new event for that address (NIP-01: the newest wins; on
// equal created_at, the lowest id).
type Version int

const (
	SameEvent Version = iota // the new event itself
	Newer                    // wins over the new event, which is not stored
	Older                    // replaced by the new event
)

// Against says how the stored version (createdAt, id) compares with r.
func (r *Row) Against(createdAt int64, id []byte) Version {
	switch {
	case bytes.Equal(id, r.ID):
		return SameEvent
	case createdAt > r.CreatedAt || (createdAt == r.CreatedAt && bytes.Compare(id, r.ID) < 0):
		return Newer
	}
	return Older
}
