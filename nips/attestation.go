package nips

import (
	"github.com/nbd-wtf/go-nostr"
)

// TrustLabelNamespace is the NIP-32 label namespace of attestations.
const TrustLabelNamespace = "sovmesh/trust"

// Outcome is what an attestation says happened in a session.
type Outcome string

// The outcomes.
const (
	Delivered Outcome = "delivered" // everything paid for was delivered (or paid, when rating a buyer)
	Partial   Outcome = "partial"   // part of it
	Failed    Outcome = "failed"    // nothing, or the counterparty broke the agreement
)

// Valid reports whether o is a known outcome.
func (o Outcome) Valid() bool { return o == Delivered || o == Partial || o == Failed }

// Role is the part a rated key played in the session.
type Role string

// The roles.
const (
	RoleProvider Role = "provider"
	RoleBuyer    Role = "buyer"
)

// Attestation is a signed rating of a counterparty that points at a receipt
// (kind 8463, regular), in the spirit of NIP-85 assertions and NIP-32
// labels. See attestation.md. It counts towards trust only when its author
// and subject are the two parties of a countersigned receipt.
type Attestation struct {
	Subject   string  // p tag: the rated key
	Receipt   string  // e tag with marker "receipt": the receipt's event id
	Role      Role    // role of the subject in the session
	Outcome   Outcome // l tag in the sovmesh/trust namespace
	Settled   uint64  // millisats settled in the session
	LatencyMs uint64  // time to first byte or first token, milliseconds (0 = not measured)
	Rating    uint64  // 0-100, like NIP-85's rank

	// Set by ParseAttestation from the event: the attester.
	Pubkey    string
	EventID   string
	CreatedAt nostr.Timestamp
}

// ToEvent encodes the attestation as an unsigned event.
func (a Attestation) ToEvent(createdAt nostr.Timestamp) nostr.Event {
	tags := nostr.Tags{
		{"p", a.Subject},
		{"e", a.Receipt, "", "receipt"},
		{"k", utoa(KindReceipt)},
		{"role", string(a.Role)},
		{"L", TrustLabelNamespace},
		{"l", string(a.Outcome), TrustLabelNamespace},
		{"settled", utoa(a.Settled)},
		{"rating", utoa(a.Rating)},
	}
	if a.LatencyMs > 0 {
		tags = append(tags, nostr.Tag{"latency_ms", utoa(a.LatencyMs)})
	}
	tags = append(tags, nostr.Tag{"alt", "sovmesh trust attestation: " + string(a.Outcome)})
	return nostr.Event{Kind: KindAttestation, CreatedAt: createdAt, Tags: tags}
}

// ParseAttestation reads and checks an attestation.
func ParseAttestation(evt *nostr.Event) (Attestation, error) {
	p := newParser("attestation")
	if err := p.kind(evt, KindAttestation); err != nil {
		return Attestation{}, err
	}
	a := Attestation{Pubkey: evt.PubKey, EventID: evt.ID, CreatedAt: evt.CreatedAt}
	var err error
	for _, tag := range evt.Tags {
		switch tag[0] {
		case "p":
			if err = p.once("p"); err == nil {
				if err = p.want(tag, 2, `["p", subject_pubkey]`); err == nil {
					a.Subject = tag[1]
					if !isHex64(tag[1]) {
						err = perr(p.typ, "p", ErrBadValue, "%q is not a hex pubkey", tag[1])
					}
				}
			}
		case "e":
			if err = p.want(tag, 2, `["e", receipt_id, relay, "receipt"]`); err == nil && (len(tag) < 4 || tag[3] == "receipt") {
				if err = p.once("e"); err == nil {
					a.Receipt = tag[1]
					if !isHex64(tag[1]) {
						err = perr(p.typ, "e", ErrBadValue, "%q is not an event id", tag[1])
					}
				}
			}
		case "role":
			if err = p.once("role"); err == nil {
				if err = p.want(tag, 2, `["role", provider|buyer]`); err == nil {
					a.Role = Role(tag[1])
					if a.Role != RoleProvider && a.Role != RoleBuyer {
						err = perr(p.typ, "role", ErrBadValue, "%q, want provider or buyer", tag[1])
					}
				}
			}
		case "l":
			if len(tag) >= 3 && tag[2] == TrustLabelNamespace {
				if err = p.once("l"); err == nil {
					a.Outcome = Outcome(tag[1])
					if !a.Outcome.Valid() {
						err = perr(p.typ, "l", ErrBadValue, "outcome %q, want delivered, partial or failed", tag[1])
					}
				}
			}
		case "settled":
			if err = p.once("settled"); err == nil {
				if err = p.want(tag, 2, `["settled", msat]`); err == nil {
					a.Settled, err = p.uint(tag, 1, 0, MaxMsat)
				}
			}
		case "latency_ms":
			if err = p.once("latency_ms"); err == nil {
				if err = p.want(tag, 2, `["latency_ms", ms]`); err == nil {
					a.LatencyMs, err = p.uint(tag, 1, 0, 86_400_000)
				}
			}
		case "rating":
			if err = p.once("rating"); err == nil {
				if err = p.want(tag, 2, `["rating", 0-100]`); err == nil {
					a.Rating, err = p.uint(tag, 1, 0, MaxTrust)
				}
			}
		}
		if err != nil {
			return Attestation{}, err
		}
	}
	if err := p.require("p", "e", "role", "l", "settled", "rating"); err != nil {
		return Attestation{}, err
	}
	if a.Subject == evt.PubKey {
		return Attestation{}, perr(p.typ, "p", ErrBadValue, "a key does not rate itself")
	}
	if a.Outcome == Failed && a.Rating > 0 {
		return Attestation{}, perr(p.typ, "rating", ErrOutOfRange, "a failed session is rated 0")
	}
	return a, nil
}
