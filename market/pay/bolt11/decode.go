package bolt11

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil/bech32"
)

// BOLT 11 sizes, in 5-bit groups.
const (
	timestampGroups = 7   // 35-bit seconds since the epoch
	signatureGroups = 104 // 64-byte compact signature and a recovery id
	hashGroups      = 52  // a 32-byte field (p, h, s)
	pubkeyGroups    = 53  // a 33-byte compressed key (n)
)

// Tagged field types (BOLT 11 "Tagged Fields"), the bech32 character's value.
const (
	fieldPaymentHash     = 1  // p
	fieldDescription     = 13 // d
	fieldDescriptionHash = 23 // h
	fieldExpiry          = 6  // x
	fieldPayee           = 19 // n
)

// defaultExpiry applies when an invoice has no x field (BOLT 11).
const defaultExpiry = time.Hour

// decode reads a bech32 invoice whose human-readable part starts with
// "ln"+prefix. It checks what a payer relies on: the checksum, the
// signature (against the n field, else by recovering the key), a single
// payment hash and a description or its hash. Fields it has no use for
// (routing hints, features, fallback addresses, ...) are skipped, as BOLT 11
// lets a reader skip fields it does not know.
func decode(s, prefix string) (*Invoice, error) {
	hrp, data, err := bech32.DecodeNoLimit(s)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(hrp, "ln"+prefix) {
		return nil, errors.New("human-readable part is for another network")
	}
	inv := &Invoice{Expiry: defaultExpiry}
	if amount := hrp[len("ln")+len(prefix):]; amount != "" {
		if inv.AmountMsat, err = decodeAmount(amount); err != nil {
			return nil, err
		}
	}
	if len(data) < timestampGroups+signatureGroups {
		return nil, errors.New("too short")
	}
	signed, sigGroups := data[:len(data)-signatureGroups], data[len(data)-signatureGroups:]
	inv.CreatedAt = time.Unix(int64(groupsToUint(signed[:timestampGroups])), 0)
	var hasDesc, hasHash, hasPayment bool
	var payee *btcec.PublicKey
	seen := map[byte]bool{}
	for f := signed[timestampGroups:]; len(f) > 0; {
		if len(f) < 3 {
			return nil, errors.New("truncated tagged field")
		}
		typ, n := f[0], int(f[1])<<5|int(f[2])
		if len(f) < 3+n {
			return nil, errors.New("tagged field longer than the invoice")
		}
		val := f[3 : 3+n]
		f = f[3+n:]
		if seen[typ] {
			continue // the first field of a type counts
		}
		switch typ {
		case fieldPaymentHash, fieldDescriptionHash:
			if n != hashGroups {
				continue // BOLT 11: skip a p or h field of another length
			}
			b, err := bech32.ConvertBits(val, 5, 8, false)
			if err != nil {
				return nil, err
			}
			if typ == fieldPaymentHash {
				copy(inv.PaymentHash[:], b)
				hasPayment = true
			} else {
				var h [32]byte
				copy(h[:], b)
				inv.DescriptionHash, hasHash = &h, true
			}
		case fieldDescription:
			b, err := bech32.ConvertBits(val, 5, 8, false)
			if err != nil {
				return nil, err
			}
			inv.Description, hasDesc = string(b), true
		case fieldExpiry:
			if n > 13 {
				return nil, errors.New("expiry too long")
			}
			secs := groupsToUint(val)
			if secs > uint64(math.MaxInt64/int64(time.Second)) {
				return nil, errors.New("expiry overflows")
			}
			inv.Expiry = time.Duration(secs) * time.Second
		case fieldPayee:
			if n != pubkeyGroups {
				continue
			}
			b, err := bech32.ConvertBits(val, 5, 8, false)
			if err != nil {
				return nil, err
			}
			if payee, err = btcec.ParsePubKey(b); err != nil {
				return nil, fmt.Errorf("payee key: %w", err)
			}
		default:
			continue // a field this package has no use for
		}
		seen[typ] = true
	}
	if !hasPayment {
		return nil, errors.New("no payment hash")
	}
	if hasDesc == hasHash {
		return nil, errors.New("want exactly one of a description and a description hash")
	}
	if err := checkSignature(hrp, signed, sigGroups, payee); err != nil {
		return nil, err
	}
	return inv, nil
}

// checkSignature verifies the invoice's signature over sha256(hrp ||
// signed data as bytes, zero padded): with the payee key when the invoice
// names it, else by recovering a key from it (BOLT 11 "Requirements").
func checkSignature(hrp string, signed, sigGroups []byte, payee *btcec.PublicKey) error {
	sig, err := bech32.ConvertBits(sigGroups, 5, 8, true)
	if err != nil {
		return err
	}
	body, err := bech32.ConvertBits(signed, 5, 8, true)
	if err != nil {
		return err
	}
	h := sha256.Sum256(append([]byte(hrp), body...))
	if payee != nil {
		var r, s btcec.ModNScalar
		if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:64]) || r.IsZero() || s.IsZero() {
			return errors.New("signature out of range")
		}
		if !ecdsa.NewSignature(&r, &s).Verify(h[:], payee) {
			return errors.New("signature does not match the payee key")
		}
		return nil
	}
	if sig[64] > 3 {
		return fmt.Errorf("recovery id %d", sig[64])
	}
	compact := append([]byte{27 + 4 + sig[64]}, sig[:64]...)
	if _, _, err := ecdsa.RecoverCompact(compact, h[:]); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	return nil
}

// groupsToUint reads big-endian 5-bit groups (at most 13).
func groupsToUint(g []byte) uint64 {
	var v uint64
	for _, x := range g {
		v = v<<5 | uint64(x)
	}
	return v
}

// msatPer is the millisatoshis of one unit of each amount multiplier; p
// (pico-bitcoin) is a tenth of a millisatoshi.
var msatPer = map[byte]uint64{'m': 100_000_000, 'u': 100_000, 'n': 100}

// decodeAmount reads the amount of the human-readable part: digits and an
// optional multiplier (BOLT 11 "Human-Readable Part").
func decodeAmount(a string) (uint64, error) {
	mult := a[len(a)-1]
	num := a
	unit := uint64(100_000_000_000) // msat per bitcoin
	if mult < '0' || mult > '9' {
		num = a[:len(a)-1]
		if mult == 'p' {
			unit = 0
		} else if u, ok := msatPer[mult]; ok {
			unit = u
		} else {
			return 0, fmt.Errorf("amount multiplier %q", mult)
		}
	}
	if num == "" || num[0] == '+' || num[0] == '-' {
		return 0, fmt.Errorf("amount %q", a)
	}
	v, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %w", a, err)
	}
	if unit == 0 { // pico-bitcoin: a whole number of millisatoshis
		if v%10 != 0 || v == 0 {
			return 0, fmt.Errorf("amount %q is not whole millisatoshis", a)
		}
		return v / 10, nil
	}
	hi, msat := bits.Mul64(v, unit)
	if hi != 0 {
		return 0, fmt.Errorf("amount %q overflows", a)
	}
	return msat, nil
}
