package bip340

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"
)

// vectors are BIP-340's test vectors (bip-0340/test-vectors.csv in
// bitcoin/bips, the final version with even-y R), the ones with a 32-byte
// message.
var vectors = []struct {
	name, pubkey, msg, sig string
	valid                  bool
}{
	{"0", "F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9", "0000000000000000000000000000000000000000000000000000000000000000", "E907831F80848D1069A5371B402410364BDF1C5F8307B0084C55F1CE2DCA821525F66A4A85EA8B71E482A74F382D2CE5EBEEE8FDB2172F477DF4900D310536C0", true},
	{"1", "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89", "6896BD60EEAE296DB48A229FF71DFE071BDE413E6D43F917DC8DCF8C78DE33418906D11AC976ABCCB20B091292BFF4EA897EFCB639EA871CFA95F6DE339E4B0A", true},
	{"2", "DD308AFEC5777E13121FA72B9CC1B7CC0139715309B086C960E18FD969774EB8", "7E2D58D8B3BCDF1ABADEC7829054F90DDA9805AAB56C77333024B9D0A508B75C", "5831AAEED7B44BB74E5EAB94BA9D4294C49BCF2A60728D8B4C200F50DD313C1BAB745879A5AD954A72C45A91C3A51D3C7ADEA98D82F8481E0E1E03674A6F3FB7", true},
	{"3 msg not reduced mod p or n", "25D1DFF95105F5253C4022F628A996AD3A0D95FBF21D468A1B33F8C160D8F517", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "7EB0509757E246F19449885651611CB965ECC1A187DD51B64FDA1EDC9637D5EC97582B9CB13DB3933705B32BA982AF5AF25FD78881EBB32771FC5922EFC66EA3", true},
	{"4", "D69C3509BB99E412E68B0FE8544E72837DFA30746D8BE2AA65975F29D22DC7B9", "4DF3C3F68FCC83B27E9D42C90431A72499F17875C81A599B566C9889B9696703", "00000000000000000000003B78CE563F89A0ED9414F5AA28AD0D96D6795F9C6376AFB1548AF603B3EB45C9F8207DEE1060CB71C04E80F593060B07D28308D7F4", true},
	{"5 pubkey not on the curve", "EEFDEA4CDB677750A420FEE807EACF21EB9898AE79B9768766E4FAA04A2D4A34", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89", "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E17776969E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B", false},
	{"6 R has odd y", "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89", "FFF97BD5755EEEA420453A14355235D382F6472F8568A18B2F057A14602975563CC27944640AC607CD107AE10923D9EF7A73C643E166BE5EBEAFA34B1AC553E2", false},
	{"7 negated message", "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89", "1FA62E331EDBC21C394792D2AB1100A7B432B013DF3F6FF4F99FCB33E0E1515F28890B3EDB6E7189B630448B515CE4F8622A954CFE545735AAEA5134FCCDB2BD", false},
	{"8 negated s", "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89", "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E177769961764B3AA9B2FFCB6EF947B6887A226E8D7C93E00C5ED0C1834FF0D0C2E6DA6", false},
	{"9 sG-eP infinite, x 0", "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89", "0000000000000000000000000000000000000000000000000000000000000000123DDA8328AF9C23A94C1FEECFD123BA4FB73476F0D594DCB65C6425BD186051", false},
	{"10 sG-eP infinite, x 1", "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89", "00000000000000000000000000000000000000000000000000000000000000017615FBAF5AE28864013C099742DEADB4DBA87F11AC6754F93780D5A1837CF197", false},
	{"11 r not an x coordinate", "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89", "4A298DACAE57395A15D0795DDBFD1DCB564DA82B0F269BC70A74F8220429BA1D69E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B", false},
	{"12 r equals the field size", "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F69E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B", false},
	{"13 s equals the curve order", "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89", "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E177769FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", false},
	{"14 pubkey exceeds the field size", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC30", "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89", "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E17776969E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B", false},
}

// unhex decodes s, which must be n bytes of hex.
func unhex(t testing.TB, s string, n int) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != n {
		t.Fatalf("bad hex %q (%d bytes, want %d): %v", s, len(b), n, err)
	}
	return b
}

// inputs decodes one vector's key, message and signature.
func inputs(t testing.TB, pubkey, msg, sig string) (pk, m [32]byte, s [64]byte) {
	t.Helper()
	copy(pk[:], unhex(t, pubkey, 32))
	copy(m[:], unhex(t, msg, 32))
	copy(s[:], unhex(t, sig, 64))
	return pk, m, s
}

func TestVectors(t *testing.T) {
	t.Logf("implementation: %s", Implementation)
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			pk, msg, sig := inputs(t, v.pubkey, v.msg, v.sig)
			if got := Verify(&pk, &msg, &sig); got != v.valid {
				t.Errorf("%s: Verify = %v, want %v", Implementation, got, v.valid)
			}
			if got := verifyBtcec(&pk, &msg, &sig); got != v.valid {
				t.Errorf("btcec: verify = %v, want %v", got, v.valid)
			}
		})
	}
}

func signed(t testing.TB) nostr.Event {
	t.Helper()
	evt := nostr.Event{
		Kind:      1,
		CreatedAt: 1700000000,
		Tags:      nostr.Tags{{"t", "sovmesh"}, {"p", strings.Repeat("ab", 32)}},
		Content:   "a note with \"quotes\", a tab\t and unicode: ñ ✓",
	}
	if err := evt.Sign(strings.Repeat("07", 32)); err != nil {
		t.Fatal(err)
	}
	return evt
}

func TestCheckEvent(t *testing.T) {
	good := signed(t)
	tests := []struct {
		name    string
		edit    func(e *nostr.Event)
		valid   bool
		malform bool
	}{
		{name: "signed", edit: func(*nostr.Event) {}, valid: true},
		{name: "content changed", edit: func(e *nostr.Event) { e.Content += "!" }},
		{name: "tag changed", edit: func(e *nostr.Event) { e.Tags[0][1] = "other" }},
		{name: "created_at changed", edit: func(e *nostr.Event) { e.CreatedAt++ }},
		{name: "other signer's pubkey", edit: func(e *nostr.Event) {
			e.PubKey = "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659"
		}},
		{name: "pubkey not on the curve", edit: func(e *nostr.Event) {
			e.PubKey = "eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34"
		}},
		{name: "signature bit flipped", edit: func(e *nostr.Event) {
			b := []byte(e.Sig)
			b[10] ^= 1
			e.Sig = string(b)
		}},
		{name: "pubkey too short", edit: func(e *nostr.Event) { e.PubKey = e.PubKey[:62] }, malform: true},
		{name: "pubkey not hex", edit: func(e *nostr.Event) { e.PubKey = "zz" + e.PubKey[2:] }, malform: true},
		{name: "signature too long", edit: func(e *nostr.Event) { e.Sig += "00" }, malform: true},
		{name: "signature not hex", edit: func(e *nostr.Event) { e.Sig = e.Sig[:126] + "xy" }, malform: true},
		{name: "empty", edit: func(e *nostr.Event) { e.PubKey, e.Sig = "", "" }, malform: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evt := good
			evt.Tags = nostr.Tags{append(nostr.Tag(nil), good.Tags[0]...), good.Tags[1]}
			tc.edit(&evt)
			ok, err := CheckEvent(&evt)
			if tc.malform {
				if !errors.Is(err, ErrMalformed) || ok {
					t.Fatalf("CheckEvent = %v, %v; want false, ErrMalformed", ok, err)
				}
				return
			}
			if err != nil || ok != tc.valid {
				t.Fatalf("CheckEvent = %v, %v; want %v, nil", ok, err, tc.valid)
			}
			if want, _ := evt.CheckSignature(); want != ok {
				t.Fatalf("CheckEvent = %v, go-nostr's CheckSignature = %v", ok, want)
			}
		})
	}
}

// FuzzVerify checks that the build's verifier and btcec agree on every
// input. Seeds are the BIP-340 vectors; the fuzzer mutates their bytes.
func FuzzVerify(f *testing.F) {
	for _, v := range vectors {
		pk, msg, sig := inputs(f, v.pubkey, v.msg, v.sig)
		f.Add(pk[:], msg[:], sig[:])
	}
	f.Fuzz(func(t *testing.T, pkb, msgb, sigb []byte) {
		var pk, msg [32]byte
		var sig [64]byte
		copy(pk[:], pkb)
		copy(msg[:], msgb)
		copy(sig[:], sigb)
		if got, want := Verify(&pk, &msg, &sig), verifyBtcec(&pk, &msg, &sig); got != want {
			t.Fatalf("%s says %v, btcec says %v for pk %x msg %x sig %x", Implementation, got, want, pk, msg, sig)
		}
	})
}

func BenchmarkCheckEvent(b *testing.B) {
	evt := signed(b)
	b.Run(Implementation, func(b *testing.B) {
		for b.Loop() {
			if ok, err := CheckEvent(&evt); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("go-nostr", func(b *testing.B) {
		for b.Loop() {
			if ok, err := evt.CheckSignature(); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}

// Verify reports whether sig is a valid BIP-340 signature of the 32-byte
// message msg by the x-only public key pk.
func Verify(pk *[32]byte, msg *[32]byte, sig *[64]byte) bool {
	return verify(pk, msg, sig)
}
