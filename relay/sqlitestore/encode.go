package sqlitestore

import (
	"database/sql"
	"fmt"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip40"
)

// row is an event encoded for the events and tags tables.
type row struct {
	id        []byte
	pubkey    []byte
	createdAt int64
	kind      int
	expiresAt sql.NullInt64
	dtag      sql.NullString
	raw       []byte
	tags      [][2]string // indexed tags: one-byte name, value; no duplicates
}

// encodeEvent validates evt and encodes it. It runs in the caller's
// goroutine, so the single writer only executes statements.
func encodeEvent(evt *nostr.Event) (*row, error) {
	if evt == nil {
		return nil, fmt.Errorf("%w: nil event", ErrInvalidEvent)
	}
	id, ok := decodeHex32(evt.ID)
	if !ok {
		return nil, fmt.Errorf("%w: id %q is not 64 lowercase hex characters", ErrInvalidEvent, clip(evt.ID))
	}
	pk, ok := decodeHex32(evt.PubKey)
	if !ok {
		return nil, fmt.Errorf("%w: pubkey %q is not 64 lowercase hex characters", ErrInvalidEvent, clip(evt.PubKey))
	}
	raw, err := evt.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%w: encode json: %v", ErrInvalidEvent, err)
	}
	r := &row{
		id:        id,
		pubkey:    pk,
		createdAt: int64(evt.CreatedAt),
		kind:      evt.Kind,
		raw:       raw,
	}
	if exp := nip40.GetExpiration(evt.Tags); exp != -1 {
		r.expiresAt = sql.NullInt64{Int64: int64(exp), Valid: true}
	}
	if nostr.IsAddressableKind(evt.Kind) {
		r.dtag = sql.NullString{String: evt.Tags.GetD(), Valid: true}
	}
	for _, tag := range evt.Tags {
		if len(tag) < 2 || len(tag[0]) != 1 {
			continue
		}
		t := [2]string{tag[0], tag[1]}
		dup := false
		for _, u := range r.tags {
			if u == t {
				dup = true
				break
			}
		}
		if !dup {
			r.tags = append(r.tags, t)
		}
	}
	return r, nil
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
