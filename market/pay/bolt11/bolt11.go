// Package bolt11 decodes Lightning invoices (BOLT 11) and checks
// them before paying: amount, expiry, network and description hash; and
// checks a payment's preimage against the invoice's payment hash after.
package bolt11

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors, compared with errors.Is.
var (
	ErrMalformed       = errors.New("bolt11: malformed invoice")
	ErrWrongNetwork    = errors.New("bolt11: invoice is for another network")
	ErrExpired         = errors.New("bolt11: invoice expired")
	ErrNoAmount        = errors.New("bolt11: invoice has no amount")
	ErrWrongAmount     = errors.New("bolt11: invoice amount differs from the agreed amount")
	ErrDescriptionHash = errors.New("bolt11: description hash does not match")
	ErrBadPreimage     = errors.New("bolt11: preimage does not match the payment hash")
)

// prefixes are the BOLT11 currency prefixes of the networks, by name.
var prefixes = map[string]string{
	"bitcoin": "bc",
	"testnet": "tb",
	"signet":  "tbs",
	"regtest": "bcrt",
}

// Invoice is a decoded BOLT11 invoice.
type Invoice struct {
	Raw             string
	Network         string
	AmountMsat      uint64 // 0 when the invoice has no amount
	PaymentHash     [32]byte
	Description     string
	DescriptionHash *[32]byte
	CreatedAt       time.Time
	Expiry          time.Duration
}

// ExpiresAt returns when the invoice expires.
func (inv *Invoice) ExpiresAt() time.Time { return inv.CreatedAt.Add(inv.Expiry) }

// PaymentHashHex returns the payment hash as hex.
func (inv *Invoice) PaymentHashHex() string { return hex.EncodeToString(inv.PaymentHash[:]) }

// MaxLen bounds the invoices Decode accepts.
const MaxLen = 7089

// Decode decodes an invoice of the named network ("bitcoin", "signet", ...)
// and checks its signature.
func Decode(s, network string) (*Invoice, error) {
	prefix, ok := prefixes[network]
	if !ok {
		return nil, fmt.Errorf("bolt11: unknown network %q", network)
	}
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "lightning:"), "LIGHTNING:")
	if len(s) > MaxLen || len(s) < 10 {
		return nil, fmt.Errorf("%w: length %d", ErrMalformed, len(s))
	}
	if want := "ln" + prefix; !strings.HasPrefix(strings.ToLower(s), want) {
		return nil, fmt.Errorf("%w: want %s", ErrWrongNetwork, network)
	}
	inv, err := decode(s, prefix)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	inv.Raw, inv.Network = s, network
	return inv, nil
}

// DecodeAny decodes an invoice of whichever network it is for, for an
// invoice already checked once (a journaled one, one a mint was asked to
// pay). Networks are tried longest prefix first: "lnbcrt" (regtest) also
// starts with "lnbc" (bitcoin).
func DecodeAny(s string) (*Invoice, error) {
	var err error
	for _, n := range []string{"signet", "regtest", "testnet", "bitcoin"} {
		var inv *Invoice
		if inv, err = Decode(s, n); err == nil {
			return inv, nil
		}
	}
	return nil, err
}

// Expect is what a payer agreed to pay.
type Expect struct {
	// AmountMsat, when not 0, must equal the invoice amount.
	AmountMsat uint64
	// MaxMsat, when not 0, bounds the invoice amount.
	MaxMsat uint64
	// Description, when not empty, must hash to the invoice's description
	// hash (or equal its description).
	Description string
	// Now is the time to check expiry against (default time.Now()).
	Now time.Time
	// MinValidity: the invoice must stay valid at least this long (default 10s).
	MinValidity time.Duration
}

// Check verifies an invoice against what the payer expects.
func (inv *Invoice) Check(e Expect) error {
	now := e.Now
	if now.IsZero() {
		now = time.Now()
	}
	if e.MinValidity == 0 {
		e.MinValidity = 10 * time.Second
	}
	if !now.Add(e.MinValidity).Before(inv.ExpiresAt()) {
		return fmt.Errorf("%w at %s", ErrExpired, inv.ExpiresAt().UTC().Format(time.RFC3339))
	}
	if inv.AmountMsat == 0 {
		return ErrNoAmount
	}
	if e.AmountMsat != 0 && inv.AmountMsat != e.AmountMsat {
		return fmt.Errorf("%w: invoice %d msat, agreed %d msat", ErrWrongAmount, inv.AmountMsat, e.AmountMsat)
	}
	if e.MaxMsat != 0 && inv.AmountMsat > e.MaxMsat {
		return fmt.Errorf("%w: invoice %d msat, at most %d msat", ErrWrongAmount, inv.AmountMsat, e.MaxMsat)
	}
	if e.Description != "" {
		if inv.DescriptionHash != nil {
			h := sha256.Sum256([]byte(e.Description))
			if !bytes.Equal(h[:], inv.DescriptionHash[:]) {
				return ErrDescriptionHash
			}
		} else if inv.Description != e.Description {
			return ErrDescriptionHash
		}
	}
	return nil
}

// VerifyPreimage checks that sha256(preimage) is the invoice's payment hash.
func (inv *Invoice) VerifyPreimage(preimageHex string) error {
	p, err := hex.DecodeString(preimageHex)
	if err != nil || len(p) != 32 {
		return fmt.Errorf("%w: not 32 bytes of hex", ErrBadPreimage)
	}
	if sha256.Sum256(p) != inv.PaymentHash {
		return ErrBadPreimage
	}
	return nil
}
