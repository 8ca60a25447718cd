package bolt11_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"

	"github.com/sovmesh/sovmesh/market/pay/bolt11"
)

func makeInvoice(t testing.TB, net *chaincfg.Params, msat uint64, created time.Time, expiry time.Duration, descHash bool) (string, string) {
	t.Helper()
	preimage := sha256.Sum256([]byte(t.Name()))
	hash := sha256.Sum256(preimage[:])
	opts := []func(*zpay32.Invoice){zpay32.Amount(lnwire.MilliSatoshi(msat)), zpay32.Expiry(expiry)}
	if descHash {
		opts = append(opts, zpay32.DescriptionHash(sha256.Sum256([]byte("1 MiB"))))
	} else {
		opts = append(opts, zpay32.Description("1 MiB"))
	}
	inv, err := zpay32.NewInvoice(net, hash, created, opts...)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := btcec.NewPrivateKey()
	s, err := inv.Encode(zpay32.MessageSigner{SignCompact: func(m []byte) ([]byte, error) { return ecdsa.SignCompact(key, m, true), nil }})
	if err != nil {
		t.Fatal(err)
	}
	return s, hex.EncodeToString(preimage[:])
}

func TestCheck(t *testing.T) {
	now := time.Now()
	fresh, preimage := makeInvoice(t, &chaincfg.SigNetParams, 21_000, now, time.Hour, true)
	expired, _ := makeInvoice(t, &chaincfg.SigNetParams, 21_000, now.Add(-2*time.Hour), time.Hour, false)
	mainnet, _ := makeInvoice(t, &chaincfg.MainNetParams, 21_000, now, time.Hour, false)
	tests := []struct {
		name, inv, net string
		expect         bolt11.Expect
		want           error
	}{
		{"ok", fresh, "signet", bolt11.Expect{AmountMsat: 21_000, Description: "1 MiB"}, nil},
		{"expired", expired, "signet", bolt11.Expect{}, bolt11.ErrExpired},
		{"wrong amount", fresh, "signet", bolt11.Expect{AmountMsat: 20_000}, bolt11.ErrWrongAmount},
		{"over max", fresh, "signet", bolt11.Expect{MaxMsat: 1_000}, bolt11.ErrWrongAmount},
		{"description hash", fresh, "signet", bolt11.Expect{Description: "2 MiB"}, bolt11.ErrDescriptionHash},
		{"wrong network", mainnet, "signet", bolt11.Expect{}, bolt11.ErrWrongNetwork},
		{"malformed", "lntbs1garbage", "signet", bolt11.Expect{}, bolt11.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := bolt11.Decode(tt.inv, tt.net)
			if err == nil {
				err = inv.Check(tt.expect)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
	inv, _ := bolt11.Decode(fresh, "signet")
	if err := inv.VerifyPreimage(preimage); err != nil {
		t.Fatal(err)
	}
	if err := inv.VerifyPreimage(hex.EncodeToString(make([]byte, 32))); !errors.Is(err, bolt11.ErrBadPreimage) {
		t.Fatalf("bad preimage: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	inv, _ := makeInvoice(f, &chaincfg.SigNetParams, 1000, time.Now(), time.Hour, false)
	f.Add(inv)
	f.Add("lntbs1")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if inv, err := bolt11.Decode(s, "signet"); err == nil {
			_ = inv.Check(bolt11.Expect{})
		}
	})
}

func TestDecodeAny(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		net  *chaincfg.Params
	}{
		{"bitcoin", &chaincfg.MainNetParams},
		{"regtest", &chaincfg.RegressionNetParams}, // lnbcrt also starts with lnbc
		{"signet", &chaincfg.SigNetParams},
		{"testnet", &chaincfg.TestNet3Params},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := makeInvoice(t, tc.net, 1000, now, time.Hour, false)
			inv, err := bolt11.DecodeAny(raw)
			if err != nil || inv.Network != tc.name {
				t.Fatalf("DecodeAny = %+v, %v; want network %s", inv, err, tc.name)
			}
		})
	}
	if _, err := bolt11.DecodeAny("lnbc1notaninvoice"); !errors.Is(err, bolt11.ErrMalformed) && !errors.Is(err, bolt11.ErrWrongNetwork) {
		t.Fatalf("garbage: %v", err)
	}
}
