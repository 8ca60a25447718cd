package marketplace_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay/marketplace"
)

// receipt is provider's receipt for one session, countersigned by buyer.
func receipt(t *testing.T, provider, buyer, session string, paid uint64) *nostr.Event {
	t.Helper()
	id := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	buyerPK, _ := nostr.GetPublicKey(buyer)
	r := nips.Receipt{Session: id("session " + session), Match: id("match " + session), Buyer: buyerPK,
		Resource: nips.Bandwidth, Delivered: 1, Paid: paid, Payment: nips.Payment{Method: nips.PayLightning}}
	evt := r.ToEvent(nostr.Now())
	evt.PubKey, _ = nostr.GetPublicKey(provider)
	sig, err := nips.Countersign(&evt, buyer)
	if err != nil {
		t.Fatal(err)
	}
	r.Countersig = sig
	return sign(t, r.ToEvent(evt.CreatedAt), provider)
}

// On a fresh relay with the default trust settings (no --trust-seeds),
// the operator's key is a seed: a provider the operator settled with
// ranks above one whose only receipt is from an unknown buyer. Before, the
// relay's own key was the only seed, it trades with nobody, and every key
// ranked 0.
func TestOperatorIsATrustSeed(t *testing.T) {
	operator := nostr.GeneratePrivateKey()
	operatorPK, _ := nostr.GetPublicKey(operator)
	tm := start(t, func(c *marketplace.Config) {
		c.Operator = operatorPK
		c.TrustInterval = 20 * time.Millisecond // recompute at once, not after 30 s
	}, nil)
	rl := connect(t, tm.URL)
	served, strangers := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
	for _, e := range []*nostr.Event{
		receipt(t, served, operator, "with the operator", 5_000),
		receipt(t, strangers, nostr.GeneratePrivateKey(), "with a stranger", 5_000_000),
		offer(t, served, "served", 50, "u0yjj"),
		offer(t, strangers, "strangers", 40, "u0yjj"),
	} {
		if err := rl.Publish(t.Context(), *e); err != nil {
			t.Fatal(err)
		}
	}
	trust := map[uint64]int{} // by price
	waitFor(t, "the operator's provider to rank", func() bool {
		clear(trust)
		for _, o := range book(t, tm, "resource=bandwidth").Offers {
			trust[o.Prices[0].Msat] = o.Trust
		}
		return len(trust) == 2 && trust[50] > 0
	})
	if trust[50] <= trust[40] {
		t.Fatalf("the operator's provider ranks %d, the stranger's %d", trust[50], trust[40])
	}
	t.Logf("ranks: operator's provider %d, stranger's provider %d", trust[50], trust[40])
}
