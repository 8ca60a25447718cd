package buyer

import (
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// TestAttestationOfSettledSession: the attestation of a settled session is
// a valid event (ParseAttestation) that settles what the receipt says was
// paid, whatever the measured latency.
func TestAttestationOfSettledSession(t *testing.T) {
	buyerSK := nostr.GeneratePrivateKey()
	provider, _ := nostr.GetPublicKey(nostr.GeneratePrivateKey())
	receipt := nips.Receipt{EventID: "069efe733016a07925f8582d429739b95006e15ac6365da8eca703ed6d5ddbbc", Paid: 600_000}
	cases := []struct {
		name    string
		latency time.Duration
		wantMs  uint64
	}{
		{"measured", 180 * time.Millisecond, 180},
		{"under a millisecond reads as 1 ms", 300 * time.Microsecond, 1},
		{"not measured reads as 1 ms", 0, 1},
		{"beyond what the event allows is capped", 48 * time.Hour, 86_400_000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Session{ID: "s", Provider: provider, Latency: tc.latency, Opened: time.Now().Add(-72 * time.Hour)}
			ev := attestation(s, receipt).ToEvent(nostr.Now())
			if err := ev.Sign(buyerSK); err != nil {
				t.Fatal(err)
			}
			a, err := nips.ParseAttestation(&ev)
			if err != nil {
				t.Fatalf("attestation does not parse: %v", err)
			}
			want := nips.Attestation{Subject: provider, Receipt: receipt.EventID, Role: nips.RoleProvider, Outcome: nips.Delivered,
				Settled: receipt.Paid, LatencyMs: tc.wantMs, Rating: 100, Pubkey: ev.PubKey, EventID: ev.ID, CreatedAt: ev.CreatedAt}
			if a != want {
				t.Fatalf("got %+v\nwant %+v", a, want)
			}
		})
	}
}
