package nips

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/nbd-wtf/go-nostr"
)

// MaxContentIDs bounds the x tags (stored objects) of one receipt.
const MaxContentIDs = 256

// Receipt is a provider's signed record of one session (kind 8462, regular):
// units delivered and millisats received, countersigned by the buyer. See
// receipt.md.
//
// The countersignature is the buyer's BIP-340 signature over BodyID: the
// NIP-01 id the receipt event would have without its countersig tag. The
// provider builds the receipt, the buyer checks it against what it got and
// paid and returns the signature, the provider adds it and signs the event.
// Only a countersigned receipt with Paid > 0 counts towards trust.
type Receipt struct {
	Session   string // session tag: the match's session id
	Match     string // e tag with marker "match": the match's event id
	Buyer     string // p tag
	Resource  Resource
	Delivered uint64 // units delivered (MiB, GiB for the duration, tokens)
	// Bytes is the exact size behind Delivered for storage and bandwidth,
	// which round up to whole GiB and MiB (optional; 0: not given).
	Bytes      uint64
	Paid       uint64 // millisats received
	Payment    Payment
	ContentIDs []string // x tags: sha256 of stored objects (storage)
	Countersig string   // buyer's BIP-340 signature over BodyID, hex; "" = not yet countersigned

	// Set by ParseReceipt from the event: the provider.
	Pubkey    string
	EventID   string
	CreatedAt nostr.Timestamp
}

// ToEvent encodes the receipt as an unsigned event (with the countersig tag
// when Countersig is set).
func (r Receipt) ToEvent(createdAt nostr.Timestamp) nostr.Event {
	tags := nostr.Tags{
		{"session", r.Session},
		{"e", r.Match, "", "match"},
		{"p", r.Buyer},
		{"t", string(r.Resource)},
		{"delivered", utoa(r.Delivered)},
		{"paid", utoa(r.Paid)},
		r.Payment.Tag(),
	}
	if r.Bytes > 0 {
		tags = append(tags, nostr.Tag{"bytes", utoa(r.Bytes)})
	}
	for _, x := range r.ContentIDs {
		tags = append(tags, nostr.Tag{"x", x})
	}
	tags = append(tags, nostr.Tag{"alt", "sovmesh market receipt for session " + r.Session})
	if r.Countersig != "" {
		tags = append(tags, nostr.Tag{"countersig", r.Countersig})
	}
	return nostr.Event{Kind: KindReceipt, CreatedAt: createdAt, Tags: tags}
}

// BodyID returns the hash the buyer countersigns: the NIP-01 id of evt
// (a receipt event) with every countersig tag removed. evt.PubKey must be
// the provider's key.
func BodyID(evt *nostr.Event) [32]byte {
	body := *evt
	body.Tags = evt.Tags.FilterOut([]string{"countersig"})
	return sha256.Sum256(body.Serialize())
}

// Countersign returns the buyer's countersignature (hex) for the receipt
// event evt, whose PubKey and CreatedAt are already the provider's final
// ones. buyerSecretKey is the buyer's hex secret key; it is not kept.
func Countersign(evt *nostr.Event, buyerSecretKey string) (string, error) {
	skb, err := hex.DecodeString(buyerSecretKey)
	if err != nil || len(skb) != 32 {
		return "", fmt.Errorf("countersign: %w: secret key is not 32 hex bytes", ErrBadValue)
	}
	sk, _ := btcec.PrivKeyFromBytes(skb)
	id := BodyID(evt)
	sig, err := schnorr.Sign(sk, id[:])
	if err != nil {
		return "", fmt.Errorf("countersign: %w", err)
	}
	return hex.EncodeToString(sig.Serialize()), nil
}

// VerifyCountersig checks sigHex as pubkey's BIP-340 signature over BodyID(evt).
func VerifyCountersig(evt *nostr.Event, pubkey, sigHex string) error {
	pkb, err := hex.DecodeString(pubkey)
	if err != nil || len(pkb) != 32 {
		return fmt.Errorf("%w: buyer pubkey", ErrBadValue)
	}
	pk, err := schnorr.ParsePubKey(pkb)
	if err != nil {
		return fmt.Errorf("%w: buyer pubkey: %v", ErrBadValue, err)
	}
	sb, err := hex.DecodeString(sigHex)
	if err != nil || len(sb) != 64 {
		return fmt.Errorf("%w: want 128 hex digits", ErrBadValue)
	}
	sig, err := schnorr.ParseSignature(sb)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadCountersig, err)
	}
	id := BodyID(evt)
	if !sig.Verify(id[:], pk) {
		return ErrBadCountersig
	}
	return nil
}

// Countersigned reports whether the receipt carries the buyer's
// countersignature (ParseReceipt has verified it).
func (r Receipt) Countersigned() bool { return r.Countersig != "" }

// ParseReceipt reads and checks a receipt, and verifies the buyer's
// countersignature when there is one.
func ParseReceipt(evt *nostr.Event) (Receipt, error) {
	p := newParser("receipt")
	if err := p.kind(evt, KindReceipt); err != nil {
		return Receipt{}, err
	}
	r := Receipt{Pubkey: evt.PubKey, EventID: evt.ID, CreatedAt: evt.CreatedAt}
	var err error
	for _, tag := range evt.Tags {
		switch tag[0] {
		case "session":
			if err = p.once("session"); err == nil {
				if err = p.want(tag, 2, `["session", hex32]`); err == nil {
					r.Session = tag[1]
					if !isHex64(tag[1]) {
						err = perr(p.typ, "session", ErrBadValue, "want 64 lowercase hex digits")
					}
				}
			}
		case "e":
			if err = p.want(tag, 2, `["e", match_id, relay, "match"]`); err == nil && (len(tag) < 4 || tag[3] == "match") {
				if err = p.once("e"); err == nil {
					r.Match = tag[1]
					if !isHex64(tag[1]) {
						err = perr(p.typ, "e", ErrBadValue, "%q is not an event id", tag[1])
					}
				}
			}
		case "p":
			if err = p.once("p"); err == nil {
				if err = p.want(tag, 2, `["p", buyer_pubkey]`); err == nil {
					r.Buyer = tag[1]
					if !isHex64(tag[1]) {
						err = perr(p.typ, "p", ErrBadValue, "%q is not a hex pubkey", tag[1])
					}
				}
			}
		case "t":
			r.Resource, err = p.resource(tag, r.Resource)
		case "delivered":
			if err = p.once("delivered"); err == nil {
				if err = p.want(tag, 2, `["delivered", units]`); err == nil {
					r.Delivered, err = p.uint(tag, 1, 0, MaxQuantity)
				}
			}
		case "bytes":
			if err = p.once("bytes"); err == nil {
				if err = p.want(tag, 2, `["bytes", size]`); err == nil {
					r.Bytes, err = p.uint(tag, 1, 1, 1<<62)
				}
			}
		case "paid":
			if err = p.once("paid"); err == nil {
				if err = p.want(tag, 2, `["paid", msat]`); err == nil {
					r.Paid, err = p.uint(tag, 1, 0, MaxMsat)
				}
			}
		case "payment":
			if err = p.once("payment"); err == nil {
				r.Payment, err = parsePayment(tag)
				err = p.wrap("payment", err)
			}
		case "x":
			if err = p.want(tag, 2, `["x", sha256_hex]`); err == nil {
				switch {
				case len(r.ContentIDs) >= MaxContentIDs:
					err = perr(p.typ, "x", ErrOutOfRange, "more than %d content ids", MaxContentIDs)
				case !isHex64(tag[1]):
					err = perr(p.typ, "x", ErrBadValue, "%q is not a sha256 hex digest", tag[1])
				case slices.Contains(r.ContentIDs, tag[1]):
					err = perr(p.typ, "x", ErrDuplicateTag, "%q", tag[1])
				default:
					r.ContentIDs = append(r.ContentIDs, tag[1])
				}
			}
		case "countersig":
			if err = p.once("countersig"); err == nil {
				if err = p.want(tag, 2, `["countersig", bip340_sig_hex]`); err == nil {
					r.Countersig = tag[1]
				}
			}
		}
		if err != nil {
			return Receipt{}, err
		}
	}
	if r.Resource == "" {
		return Receipt{}, perr(p.typ, "t", ErrMissingTag, "one t tag must name the resource")
	}
	if err := p.require("session", "e", "p", "delivered", "paid", "payment"); err != nil {
		return Receipt{}, err
	}
	if r.Buyer == evt.PubKey {
		return Receipt{}, perr(p.typ, "p", ErrBadValue, "the buyer is the provider")
	}
	if r.Bytes > 0 {
		unit := map[Resource]uint64{Storage: 1 << 30, Bandwidth: 1 << 20}[r.Resource]
		switch {
		case unit == 0:
			return Receipt{}, perr(p.typ, "bytes", ErrBadValue, "only storage and bandwidth receipts give bytes")
		case (r.Bytes+unit-1)/unit != r.Delivered:
			return Receipt{}, perr(p.typ, "bytes", ErrBadValue, "%d bytes are not the %d delivered units rounded up", r.Bytes, r.Delivered)
		}
	}
	if len(r.ContentIDs) > 0 && r.Resource != Storage {
		return Receipt{}, perr(p.typ, "x", ErrBadValue, "only a storage receipt lists content ids")
	}
	if r.Countersig != "" {
		if err := VerifyCountersig(evt, r.Buyer, r.Countersig); err != nil {
			return Receipt{}, p.wrap("countersig", err)
		}
	}
	return r, nil
}
