package bolt11_test

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"

	"github.com/sovmesh/sovmesh/market/pay/bolt11"
)

// lnd's zpay32 is the reference decoder: the package's own decoder keeps
// lnd out of the binaries, and these tests hold it to zpay32's results.

// signed encodes inv with a fresh key.
func signed(t testing.TB, inv *zpay32.Invoice) string {
	t.Helper()
	key, _ := btcec.NewPrivateKey()
	s, err := inv.Encode(zpay32.MessageSigner{SignCompact: func(m []byte) ([]byte, error) { h := sha256.Sum256(m); return ecdsa.SignCompact(key, h[:], true), nil }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecodeFields(t *testing.T) {
	hash := sha256.Sum256([]byte("preimage"))
	created := time.Unix(1_700_000_000, 0)
	payee, _ := btcec.NewPrivateKey()
	withPayee, err := zpay32.NewInvoice(&chaincfg.SigNetParams, hash, created, zpay32.Description("x"), zpay32.Destination(payee.PubKey()))
	if err != nil {
		t.Fatal(err)
	}
	payeeSigned, err := withPayee.Encode(zpay32.MessageSigner{SignCompact: func(m []byte) ([]byte, error) {
		h := sha256.Sum256(m)
		return ecdsa.SignCompact(payee, h[:], true), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The same invoice with its timestamp changed after signing, and a
	// valid checksum: its signature no longer matches the payee key.
	hrp, data, err := bech32.DecodeNoLimit(payeeSigned)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 1
	resigned, err := bech32.Encode(hrp, data)
	if err != nil {
		t.Fatal(err)
	}
	pico, _ := zpay32.NewInvoice(&chaincfg.SigNetParams, hash, created, zpay32.Amount(lnwire.MilliSatoshi(1_234_567)), zpay32.Description("é"), zpay32.Expiry(90*time.Second))
	noAmount, _ := zpay32.NewInvoice(&chaincfg.MainNetParams, hash, created, zpay32.DescriptionHash(sha256.Sum256([]byte("d"))))
	tampered := []byte(signed(t, pico))
	tampered[len(tampered)-10] ^= 'q' ^ 'p' // valid charset, wrong checksum
	for _, tc := range []struct {
		name, raw, net string
		ok             bool
	}{
		{"amount, description, expiry", signed(t, pico), "signet", true},
		{"no amount, description hash", signed(t, noAmount), "bitcoin", true},
		{"payee key signed", payeeSigned, "signet", true},
		{"payee key, data changed after signing", resigned, "signet", false},
		{"bad checksum", string(tampered), "signet", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bolt11.Decode(tc.raw, tc.net)
			if !tc.ok {
				if !errors.Is(err, bolt11.ErrMalformed) {
					t.Fatalf("Decode = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sameAsZpay32(t, tc.raw, tc.net, got)
		})
	}
}

var netParams = map[string]*chaincfg.Params{"bitcoin": &chaincfg.MainNetParams, "testnet": &chaincfg.TestNet3Params, "signet": &chaincfg.SigNetParams, "regtest": &chaincfg.RegressionNetParams}

// sameAsZpay32 fails unless zpay32 decodes raw to the same invoice.
func sameAsZpay32(t *testing.T, raw, net string, got *bolt11.Invoice) {
	t.Helper()
	zi, err := zpay32.Decode(raw, netParams[net])
	if err != nil {
		t.Fatalf("zpay32 refuses what Decode accepted: %v", err)
	}
	want := bolt11.Invoice{Raw: raw, Network: net, PaymentHash: *zi.PaymentHash, CreatedAt: zi.Timestamp, Expiry: zi.Expiry()}
	if zi.MilliSat != nil {
		want.AmountMsat = uint64(*zi.MilliSat)
	}
	if zi.Description != nil {
		want.Description = *zi.Description
	}
	if (zi.DescriptionHash == nil) != (got.DescriptionHash == nil) || (zi.DescriptionHash != nil && *zi.DescriptionHash != *got.DescriptionHash) {
		t.Fatalf("description hash %v, zpay32 %v", got.DescriptionHash, zi.DescriptionHash)
	}
	got2 := *got
	got2.DescriptionHash = nil
	if !got2.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("created %v, zpay32 %v", got2.CreatedAt, want.CreatedAt)
	}
	got2.CreatedAt = want.CreatedAt
	if got2 != want {
		t.Fatalf("Decode = %+v\nzpay32 = %+v", got2, want)
	}
}

// overflows: Decode refuses what zpay32 lets wrap around: an amount or
// expiry that does not fit 64 bits, or a recovery id over 3 (BOLT 11 allows
// 0-3; zpay32 adds it to the header byte 27+4, so 252-255 wrap to valid
// headers).
func overflows(err error) bool {
	return strings.Contains(err.Error(), "overflows") || strings.Contains(err.Error(), "recovery id")
}

// FuzzDecodeLikeZpay32: what zpay32 accepts, Decode accepts with the same
// fields (but an amount or expiry that overflows); what Decode accepts,
// zpay32 may refuse only for a malformed field Decode skips.
func FuzzDecodeLikeZpay32(f *testing.F) {
	hash := sha256.Sum256([]byte("preimage"))
	for _, opts := range [][]func(*zpay32.Invoice){
		{zpay32.Description("x")},
		{zpay32.Amount(2_000), zpay32.DescriptionHash(hash), zpay32.Expiry(time.Minute)},
	} {
		inv, _ := zpay32.NewInvoice(&chaincfg.SigNetParams, hash, time.Unix(1_700_000_000, 0), opts...)
		f.Add(signed(f, inv))
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := bolt11.Decode(s, "signet")
		_, zerr := zpay32.Decode(s, &chaincfg.SigNetParams)
		if zerr == nil && err != nil && len(s) <= bolt11.MaxLen && len(s) >= 10 && !overflows(err) {
			t.Fatalf("zpay32 accepts, Decode refuses: %v", err)
		}
		if err == nil && zerr == nil {
			sameAsZpay32(t, got.Raw, "signet", got)
		}
	})
}

// FuzzDecodeGroupsLikeZpay32 fuzzes the amount and the 5-bit data of an
// invoice with a valid checksum, so inputs reach the tagged fields and the
// signature (a changed body still recovers some key): Decode and zpay32
// must agree on what they accept, field by field.
func FuzzDecodeGroupsLikeZpay32(f *testing.F) {
	hash := sha256.Sum256([]byte("preimage"))
	for _, opts := range [][]func(*zpay32.Invoice){
		{zpay32.Description("x"), zpay32.Amount(1_000)},
		{zpay32.DescriptionHash(hash), zpay32.Expiry(time.Minute), zpay32.CLTVExpiry(40)},
	} {
		inv, _ := zpay32.NewInvoice(&chaincfg.SigNetParams, hash, time.Unix(1_700_000_000, 0), opts...)
		hrp, data, err := bech32.DecodeNoLimit(signed(f, inv))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(hrp[len("lntbs"):], data)
	}
	f.Fuzz(func(t *testing.T, amount string, data []byte) {
		groups := make([]byte, len(data))
		for i, b := range data {
			groups[i] = b & 31
		}
		s, err := bech32.Encode("lntbs"+amount, groups)
		if err != nil || len(s) > bolt11.MaxLen {
			return
		}
		got, err := bolt11.Decode(s, "signet")
		_, zerr := zpay32.Decode(s, &chaincfg.SigNetParams)
		if zerr == nil && err != nil && !overflows(err) {
			t.Fatalf("zpay32 accepts, Decode refuses: %v", err)
		}
		if err == nil && zerr == nil {
			sameAsZpay32(t, got.Raw, "signet", got)
		}
	})
}
