package nwc_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/nwc"
)

// FuzzParseURI: any text (an owner's --nwc-file, SOVMESH_NWC) parses or
// fails with ErrBadURI and a fixed message that holds none of the input;
// what parses prints back to the same URI, and its Redacted form holds no
// secret.
func FuzzParseURI(f *testing.F) {
	const pk, sk = "b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4", "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c"
	for _, s := range []string{
		"nostr+walletconnect://" + pk + "?relay=wss%3A%2F%2Frelay.example&secret=" + sk,
		"nostr+walletconnect:" + pk + "?relay=ws://127.0.0.1:7447&relay=wss://b.example&secret=" + sk + "&lud16=a@b.example",
		"nostrwalletconnect://" + pk + "?relay=http://x&secret=" + sk,
		"nostr+walletconnect://" + pk + "?secret=" + sk, "nostr+walletconnect://%zz", " \n", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := nwc.ParseURI(s)
		if err != nil {
			if !errors.Is(err, nwc.ErrBadURI) {
				t.Fatalf("error not ErrBadURI: %v", err)
			}
			if msg := strings.TrimPrefix(err.Error(), nwc.ErrBadURI.Error()); len(msg) > 20 {
				t.Fatalf("error carries more than a fixed reason: %q", err)
			}
			return
		}
		if len(u.Secret) != 64 || len(u.WalletPubkey) != 64 || len(u.Relays) == 0 {
			t.Fatalf("parsed %+v", u)
		}
		// (The secret shows only where the input also put it in a public part.)
		if strings.Contains(u.Redacted(), u.Secret) && !strings.Contains(u.WalletPubkey+strings.Join(u.Relays, " "), u.Secret) {
			t.Fatal("Redacted holds the secret")
		}
		back, err := nwc.ParseURI(u.String())
		if err != nil || back.String() != u.String() {
			t.Fatalf("%q prints as %q, which parses as %q (%v)", s, u.String(), back.String(), err)
		}
	})
}
