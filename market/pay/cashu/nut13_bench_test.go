package cashu

import (
	"encoding/hex"
	"testing"

	"github.com/elnosh/gonuts/cashu/nuts/nut13"
	"github.com/elnosh/gonuts/crypto"
)

func testWallet(t testing.TB) *Wallet {
	t.Helper()
	hd, err := hdMaster(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return &Wallet{hd: hd, hdPaths: map[string]*hdNode{}}
}

// TestDeriveMatchesNUT13: our fast derivation gives gonuts' NUT-13 secrets
// and blinding factors for the same master key.
func TestDeriveMatchesNUT13(t *testing.T) {
	w := testWallet(t)
	for _, id := range []string{"009a1f293253e41e", "00ad268c4d1f5826", "00ffffffffffffff"} {
		path, err := nut13.DeriveKeysetPath(w.hd, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []uint32{0, 1, 2, 99, 1 << 20} {
			o := output{Amount: 1, Keyset: id}
			if err := w.deriveOutput(&o, c); err != nil {
				t.Fatal(err)
			}
			secret, err := nut13.DeriveSecret(path, c)
			if err != nil {
				t.Fatal(err)
			}
			r, err := nut13.DeriveBlindingFactor(path, c)
			if err != nil {
				t.Fatal(err)
			}
			B, _, err := crypto.BlindMessage(secret, r)
			if err != nil {
				t.Fatal(err)
			}
			if o.Secret != secret || o.R != hex.EncodeToString(r.Serialize()) || o.B != hex.EncodeToString(B.SerializeCompressed()) {
				t.Fatalf("keyset %s counter %d: derived %+v, NUT-13 secret %s", id, c, o, secret)
			}
		}
	}
}

func BenchmarkDeriveOutput(b *testing.B) {
	w := testWallet(b)
	for i := 0; b.Loop(); i++ {
		o := output{Amount: 1, Keyset: "009a1f293253e41e"}
		if err := w.deriveOutput(&o, uint32(i)); err != nil {
			b.Fatal(err)
		}
	}
}
