package creq

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"
)

// PrefixB starts every NUT-26 (bech32m) payment request, in either case.
const PrefixB = "creqb1"

// TLV tags of NUT-26.
const (
	tlvID          = 0x01
	tlvAmount      = 0x02
	tlvUnit        = 0x03
	tlvSingleUse   = 0x04
	tlvMint        = 0x05
	tlvDescription = 0x06
	tlvTransport   = 0x07
	tlvNUT10       = 0x08

	subKind   = 0x01
	subTarget = 0x02
	subTag    = 0x03
)

// Transport kinds of NUT-26 (as its test vectors number them).
const (
	kindInBand = 0
	kindNostr  = 1
	kindPost   = 2
)

// Limits on what DecodeB accepts.
const (
	maxItems = 64 // mints, transports, tags per item
)

// DecodeAny parses a payment request in either encoding: "creqA..."
// (NUT-18, CBOR) or "creqb1..." (NUT-26, bech32m, either case).
func DecodeAny(s string) (Request, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, Prefix):
		return Decode(s)
	case len(s) >= len(PrefixB) && strings.EqualFold(s[:len(PrefixB)], PrefixB):
		return DecodeB(s)
	}
	return Request{}, fmt.Errorf("%w: neither creqA nor creqb1", ErrMalformed)
}

// EncodeB returns the NUT-26 form of r: "CREQB1..." (upper case, for QR
// codes). Only nostr (npub or nprofile target) and post transports can be
// encoded.
func (r Request) EncodeB() (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	var b []byte
	var err error
	if r.ID != "" {
		b = appendTLV(b, tlvID, []byte(r.ID))
	}
	if r.Amount != 0 {
		b = appendTLV(b, tlvAmount, binary.BigEndian.AppendUint64(nil, r.Amount))
	}
	switch r.Unit {
	case "":
	case "sat":
		b = appendTLV(b, tlvUnit, []byte{0})
	default:
		b = appendTLV(b, tlvUnit, []byte(r.Unit))
	}
	if r.SingleUse {
		b = appendTLV(b, tlvSingleUse, []byte{1})
	}
	for _, m := range r.Mints {
		b = appendTLV(b, tlvMint, []byte(m))
	}
	if r.Description != "" {
		b = appendTLV(b, tlvDescription, []byte(r.Description))
	}
	for i, t := range r.Transports {
		var sub []byte
		if sub, err = encodeTransport(t); err != nil {
			return "", fmt.Errorf("%w: transport %d: %v", ErrMalformed, i, err)
		}
		b = appendTLV(b, tlvTransport, sub)
	}
	if o := r.NUT10; o != nil {
		var sub []byte
		switch o.Kind {
		case KindP2PK:
			sub = appendTLV(sub, subKind, []byte{0})
		case KindHTLC:
			sub = appendTLV(sub, subKind, []byte{1})
		default:
			return "", fmt.Errorf("%w: locking kind %q has no NUT-26 number", ErrMalformed, truncate(o.Kind, 16))
		}
		sub = appendTLV(sub, subTarget, []byte(o.Data))
		for _, tag := range o.Tags {
			tt, err := tagTuple(tag)
			if err != nil {
				return "", err
			}
			sub = appendTLV(sub, subTag, tt)
		}
		b = appendTLV(b, tlvNUT10, sub)
	}
	conv, err := bech32.ConvertBits(b, 8, 5, true)
	if err != nil {
		return "", fmt.Errorf("creq: bech32: %w", err)
	}
	s, err := bech32.EncodeM("creqb", conv)
	if err != nil {
		return "", fmt.Errorf("creq: bech32: %w", err)
	}
	if len(s) > MaxLen {
		return "", fmt.Errorf("%w: request too large", ErrMalformed)
	}
	return strings.ToUpper(s), nil
}

func encodeTransport(t Transport) ([]byte, error) {
	var sub []byte
	var extra [][]string
	switch t.Type {
	case TransportNostr:
		pub, relays, err := nostrTarget(t.Target)
		if err != nil {
			return nil, err
		}
		sub = appendTLV(sub, subKind, []byte{kindNostr})
		sub = appendTLV(sub, subTarget, pub)
		extra = append(extra, t.Tags...)
		for _, r := range relays {
			extra = append(extra, []string{"r", r})
		}
	case TransportPost:
		sub = appendTLV(sub, subKind, []byte{kindPost})
		sub = appendTLV(sub, subTarget, []byte(t.Target))
		extra = t.Tags
	default:
		return nil, fmt.Errorf("transport type %q has no NUT-26 number", truncate(t.Type, 16))
	}
	for _, tag := range extra {
		tt, err := tagTuple(tag)
		if err != nil {
			return nil, err
		}
		sub = appendTLV(sub, subTag, tt)
	}
	return sub, nil
}

// nostrTarget reads an npub or nprofile.
func nostrTarget(s string) ([]byte, []string, error) {
	prefix, v, err := nip19.Decode(s)
	if err != nil {
		return nil, nil, fmt.Errorf("nostr target: %v", err)
	}
	var pub string
	var relays []string
	switch prefix {
	case "npub":
		pub, _ = v.(string)
	case "nprofile":
		pp, _ := v.(nostr.ProfilePointer)
		pub, relays = pp.PublicKey, pp.Relays
	default:
		return nil, nil, fmt.Errorf("nostr target is a %s", prefix)
	}
	b, err := hex.DecodeString(pub)
	if err != nil || len(b) != 32 {
		return nil, nil, fmt.Errorf("nostr target key")
	}
	return b, relays, nil
}

// tagTuple encodes [key, values...] with one-byte lengths.
func tagTuple(tag []string) ([]byte, error) {
	if len(tag) == 0 {
		return nil, fmt.Errorf("%w: empty tag", ErrMalformed)
	}
	var b []byte
	for _, s := range tag {
		if len(s) > 0xff {
			return nil, fmt.Errorf("%w: tag value longer than 255 bytes", ErrMalformed)
		}
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b, nil
}

// appendTLV appends one entry; values are bounded well below 64 KiB by
// MaxLen, checked on the whole encoding.
func appendTLV(b []byte, tag byte, v []byte) []byte {
	if len(v) > 0xffff {
		v = v[:0xffff] // the result is refused by the MaxLen check
	}
	b = append(b, tag)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

// DecodeB parses a NUT-26 request ("creqb1...", either case, bech32m).
// Unknown tags and transport kinds are skipped; an in-band transport is
// read as no transport.
func DecodeB(s string) (Request, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxLen {
		return Request{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxLen)
	}
	hrp, data, err := bech32.DecodeNoLimit(s)
	if err != nil || hrp != "creqb" {
		return Request{}, fmt.Errorf("%w: not a creqb bech32 string", ErrMalformed)
	}
	// bech32m, not bech32: the checksum must be the one EncodeM makes.
	if again, err := bech32.EncodeM(hrp, data); err != nil || !strings.EqualFold(again, s) {
		return Request{}, fmt.Errorf("%w: not a bech32m checksum", ErrMalformed)
	}
	b, err := bech32.ConvertBits(data, 5, 8, false)
	if err != nil {
		return Request{}, fmt.Errorf("%w: bad bech32 padding", ErrMalformed)
	}
	var r Request
	err = walkTLV(b, func(tag byte, v []byte) error {
		switch tag {
		case tlvID:
			r.ID = string(v)
		case tlvAmount:
			if len(v) != 8 {
				return fmt.Errorf("amount of %d bytes", len(v))
			}
			r.Amount = binary.BigEndian.Uint64(v)
		case tlvUnit:
			if len(v) == 1 && v[0] == 0 {
				r.Unit = "sat"
			} else {
				r.Unit = string(v)
			}
		case tlvSingleUse:
			if len(v) != 1 || v[0] > 1 {
				return fmt.Errorf("single_use is not 0 or 1")
			}
			r.SingleUse = v[0] == 1
		case tlvMint:
			if len(r.Mints) == maxItems {
				return fmt.Errorf("more than %d mints", maxItems)
			}
			r.Mints = append(r.Mints, string(v))
		case tlvDescription:
			r.Description = string(v)
		case tlvTransport:
			if len(r.Transports) == maxItems {
				return fmt.Errorf("more than %d transports", maxItems)
			}
			t, ok, err := decodeTransport(v)
			if err != nil {
				return err
			}
			if ok {
				r.Transports = append(r.Transports, t)
			}
		case tlvNUT10:
			o, err := decodeNUT10(v)
			if err != nil {
				return err
			}
			r.NUT10 = o
		}
		return nil
	})
	if err != nil {
		return Request{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := r.Validate(); err != nil {
		return Request{}, err
	}
	return r, nil
}

func decodeTransport(v []byte) (Transport, bool, error) {
	kind := -1
	var target []byte
	var tags [][]string
	err := walkTLV(v, func(tag byte, v []byte) error {
		switch tag {
		case subKind:
			if len(v) != 1 {
				return fmt.Errorf("transport kind of %d bytes", len(v))
			}
			kind = int(v[0])
		case subTarget:
			target = v
		case subTag:
			if len(tags) == maxItems {
				return fmt.Errorf("more than %d transport tags", maxItems)
			}
			tt, err := readTuple(v)
			if err != nil {
				return err
			}
			tags = append(tags, tt)
		}
		return nil
	})
	if err != nil {
		return Transport{}, false, err
	}
	switch kind {
	case kindNostr:
		if len(target) != 32 {
			return Transport{}, false, fmt.Errorf("nostr target of %d bytes", len(target))
		}
		pub := hex.EncodeToString(target)
		var relays []string
		var rest [][]string
		for _, t := range tags {
			if t[0] == "r" && len(t) == 2 {
				relays = append(relays, t[1])
			} else {
				rest = append(rest, t)
			}
		}
		var s string
		var err error
		if len(relays) > 0 {
			s, err = nip19.EncodeProfile(pub, relays)
		} else {
			s, err = nip19.EncodePublicKey(pub)
		}
		if err != nil {
			return Transport{}, false, fmt.Errorf("nostr target: %v", err)
		}
		return Transport{Type: TransportNostr, Target: s, Tags: rest}, true, nil
	case kindPost:
		return Transport{Type: TransportPost, Target: string(target), Tags: tags}, true, nil
	}
	return Transport{}, false, nil // in band, or a kind this package does not know
}

func decodeNUT10(v []byte) (*NUT10Option, error) {
	o := &NUT10Option{}
	kind := -1
	err := walkTLV(v, func(tag byte, v []byte) error {
		switch tag {
		case subKind:
			if len(v) != 1 {
				return fmt.Errorf("nut10 kind of %d bytes", len(v))
			}
			kind = int(v[0])
		case subTarget:
			o.Data = string(v)
		case subTag:
			if len(o.Tags) == maxItems {
				return fmt.Errorf("more than %d nut10 tags", maxItems)
			}
			tt, err := readTuple(v)
			if err != nil {
				return err
			}
			o.Tags = append(o.Tags, tt)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch kind {
	case 0:
		o.Kind = KindP2PK
	case 1:
		o.Kind = KindHTLC
	default:
		return nil, fmt.Errorf("unknown nut10 kind %d", kind)
	}
	return o, nil
}

// walkTLV calls fn for each type-length-value entry of b.
func walkTLV(b []byte, fn func(tag byte, v []byte) error) error {
	for len(b) > 0 {
		if len(b) < 3 {
			return fmt.Errorf("truncated TLV header")
		}
		tag, n := b[0], int(binary.BigEndian.Uint16(b[1:3]))
		if len(b) < 3+n {
			return fmt.Errorf("TLV value of %d bytes, %d left", n, len(b)-3)
		}
		if err := fn(tag, b[3:3+n]); err != nil {
			return err
		}
		b = b[3+n:]
	}
	return nil
}

// readTuple decodes a tag tuple: [len key] then [len value]*.
func readTuple(b []byte) ([]string, error) {
	var out []string
	for len(b) > 0 {
		if len(out) == maxItems {
			return nil, fmt.Errorf("tag tuple of more than %d items", maxItems)
		}
		n := int(b[0])
		if len(b) < 1+n {
			return nil, fmt.Errorf("truncated tag tuple")
		}
		out = append(out, string(b[1:1+n]))
		b = b[1+n:]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty tag tuple")
	}
	return out, nil
}
