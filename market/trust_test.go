package market

import (
	"fmt"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
)

// trade builds a real receipt event, signed by provider and countersigned
// by buyer, parses it (which verifies the countersignature) and adds it to g.
func trade(t testing.TB, g *TrustGraph, provider, buyer nipstest.Key, paid uint64, at time.Time, session string) nips.Receipt {
	t.Helper()
	r := nips.Receipt{
		Session: hexID("session " + session), Match: hexID("match " + session), Buyer: buyer.Public,
		Resource: nips.Bandwidth, Delivered: 1, Paid: paid, Payment: lightning,
	}
	evt := r.ToEvent(nostr.Timestamp(at.Unix()))
	evt.PubKey = provider.Public
	sig, err := nips.Countersign(&evt, buyer.Secret)
	if err != nil {
		t.Fatal(err)
	}
	r.Countersig = sig
	signed := nipstest.Sign(r.ToEvent(evt.CreatedAt), provider)
	parsed, err := nips.ParseReceipt(&signed)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := g.Apply(&signed); err != nil || !ok {
		t.Fatalf("receipt %s not counted: %v", session, err)
	}
	if g.AddReceipt(parsed) {
		t.Fatal("the same receipt counted twice")
	}
	return parsed
}

func attest(t testing.TB, g *TrustGraph, author nipstest.Key, subject string, r nips.Receipt, outcome nips.Outcome, rating uint64, at time.Time) {
	t.Helper()
	a := nips.Attestation{Subject: subject, Receipt: r.EventID, Role: nips.RoleProvider, Outcome: outcome, Settled: r.Paid, Rating: rating}
	evt := nipstest.Sign(a.ToEvent(nostr.Timestamp(at.Unix())), author)
	if _, err := g.Apply(&evt); err != nil {
		t.Fatal(err)
	}
}

// TestSybilSwarm: fifty fresh keys trade with each other for a whole
// bitcoin per receipt and rate each other 100; one honest provider has real
// settled receipts with buyers the viewer trusts. The swarm must rank below
// the honest provider, also when one swarm key sold a little to a trusted
// buyer (an attack edge), and must not gain by adding more receipts.
func TestSybilSwarm(t *testing.T) {
	now := t0.Add(30 * 24 * time.Hour)
	viewer := nipstest.NewKey("viewer")
	friend := nipstest.NewKey("friend")
	honest := nipstest.NewKey("honest provider")
	other := nipstest.NewKey("other provider")

	build := func(swarmReceipts int, attackEdge bool) (*TrustGraph, []nipstest.Key) {
		g := NewTrustGraph()
		trade(t, g, friend, viewer, 50_000_000, t0, "v-f") // the viewer paid the friend once
		trade(t, g, honest, viewer, 20_000_000, t0, "v-h1")
		trade(t, g, honest, friend, 30_000_000, t0.Add(time.Hour), "f-h1")
		trade(t, g, other, friend, 5_000_000, t0, "f-o1")
		swarm := make([]nipstest.Key, 50)
		for i := range swarm {
			swarm[i] = nipstest.NewKey(fmt.Sprintf("sybil %d", i))
		}
		for i := 0; i < swarmReceipts; i++ {
			p, b := swarm[i%len(swarm)], swarm[(i*7+1)%len(swarm)]
			if p == b {
				b = swarm[(i+1)%len(swarm)]
			}
			r := trade(t, g, p, b, 100_000_000_000, t0.Add(time.Duration(i)*time.Minute), fmt.Sprintf("sybil %d", i))
			attest(t, g, b, p.Public, r, nips.Delivered, 100, t0.Add(time.Duration(i)*time.Minute+time.Second))
		}
		if attackEdge {
			// swarm[0] really sold 10 sats of bandwidth to the friend.
			trade(t, g, swarm[0], friend, 10_000, t0, "attack")
		}
		return g, swarm
	}

	for _, tc := range []struct {
		name     string
		receipts int
		attack   bool
	}{
		{"closed swarm", 200, false},
		{"swarm with an attack edge", 200, true},
		{"bigger swarm with an attack edge", 600, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, swarm := build(tc.receipts, tc.attack)
			s := g.Compute([]string{viewer.Public}, now, DefaultTrustParams())
			h := s.Score(honest.Public)
			if h <= 0 || s.Rank(honest.Public) < 90 {
				t.Fatalf("honest provider score %g rank %d", h, s.Rank(honest.Public))
			}
			var swarmTotal float64
			for _, k := range swarm {
				v := s.Score(k.Public)
				swarmTotal += v
				if v >= h || s.Rank(k.Public) >= s.Rank(honest.Public) {
					t.Fatalf("sybil %s scores %g (rank %d) >= honest %g (rank %d)", k.Public[:8], v, s.Rank(k.Public), h, s.Rank(honest.Public))
				}
			}
			if !tc.attack && swarmTotal != 0 {
				t.Fatalf("a closed swarm got trust %g", swarmTotal)
			}
			if tc.attack && swarmTotal >= h {
				t.Fatalf("the whole swarm (%g) outweighs the honest provider (%g)", swarmTotal, h)
			}
			if s.Score(other.Public) <= 0 {
				t.Fatal("a provider with a small real receipt has no trust")
			}
			t.Logf("honest %.4g (rank %d), other %.4g (rank %d), swarm total %.4g, best sybil rank %d",
				h, s.Rank(honest.Public), s.Score(other.Public), s.Rank(other.Public), swarmTotal, s.Rank(swarm[0].Public))
		})
	}
	// More swarm receipts do not buy more trust.
	g1, sw1 := build(200, true)
	g2, _ := build(600, true)
	s1 := g1.Compute([]string{viewer.Public}, now, DefaultTrustParams())
	s2 := g2.Compute([]string{viewer.Public}, now, DefaultTrustParams())
	var t1, t2 float64
	for _, k := range sw1 {
		t1 += s1.Score(k.Public)
		t2 += s2.Score(k.Public)
	}
	if t2 > t1*1.0001 {
		t.Fatalf("swarm trust grew from %g to %g with more self-dealing", t1, t2)
	}
}

// TestTrustWeighsSatsNotCounts: one large settled receipt outweighs many
// tiny ones from the same buyer.
func TestTrustWeighsSatsNotCounts(t *testing.T) {
	g := NewTrustGraph()
	viewer, big, many := nipstest.NewKey("viewer"), nipstest.NewKey("big"), nipstest.NewKey("many")
	trade(t, g, big, viewer, 10_000_000, t0, "big")
	for i := 0; i < 40; i++ {
		trade(t, g, many, viewer, 10_000, t0, fmt.Sprintf("small %d", i))
	}
	s := g.Compute([]string{viewer.Public}, t0, DefaultTrustParams())
	if s.Score(big.Public) <= s.Score(many.Public)*10 {
		t.Fatalf("big %g, many small %g", s.Score(big.Public), s.Score(many.Public))
	}
	if s.Rank(big.Public) != 100 || s.Rank(many.Public) > 75 { // 25x less: 100 - 20 log10(25) = 72
		t.Fatalf("ranks big %d many %d", s.Rank(big.Public), s.Rank(many.Public))
	}
}

func TestTrustAgeDecay(t *testing.T) {
	g := NewTrustGraph()
	viewer, old, fresh := nipstest.NewKey("viewer"), nipstest.NewKey("old"), nipstest.NewKey("fresh")
	now := t0.Add(365 * 24 * time.Hour)
	trade(t, g, old, viewer, 1_000_000, t0, "old")
	trade(t, g, fresh, viewer, 1_000_000, now.Add(-24*time.Hour), "fresh")
	s := g.Compute([]string{viewer.Public}, now, DefaultTrustParams())
	ratio := s.Score(old.Public) / s.Score(fresh.Public)
	// 364 days apart at a 90-day half-life: 2^-(364/90) ~ 0.06.
	if ratio > 0.07 || ratio < 0.05 {
		t.Fatalf("old/fresh = %g, want about 0.06", ratio)
	}
}

func TestAttestationsAdjustEdges(t *testing.T) {
	viewer, good, bad, stranger := nipstest.NewKey("viewer"), nipstest.NewKey("good"), nipstest.NewKey("bad"), nipstest.NewKey("stranger")
	g := NewTrustGraph()
	trade(t, g, good, viewer, 1_000_000, t0, "good")
	rb := trade(t, g, bad, viewer, 1_000_000, t0, "bad")
	s0 := g.Compute([]string{viewer.Public}, t0, DefaultTrustParams())
	if s0.Score(bad.Public) != s0.Score(good.Public) {
		t.Fatal("equal receipts, unequal scores")
	}
	// An attestation by a key that is not a party counts for nothing.
	attest(t, g, stranger, bad.Public, rb, nips.Delivered, 100, t0)
	attest(t, g, stranger, good.Public, rb, nips.Failed, 0, t0)
	s1 := g.Compute([]string{viewer.Public}, t0, DefaultTrustParams())
	if s1.Score(bad.Public) != s0.Score(bad.Public) || s1.Score(good.Public) != s0.Score(good.Public) {
		t.Fatal("a stranger's attestation changed scores")
	}
	// The buyer reports failure: the receipt no longer vouches for the provider.
	attest(t, g, viewer, bad.Public, rb, nips.Failed, 0, t0.Add(time.Minute))
	s2 := g.Compute([]string{viewer.Public}, t0, DefaultTrustParams())
	if s2.Score(bad.Public) != 0 || s2.Rank(bad.Public) != 0 || s2.Known(bad.Public) {
		t.Fatalf("failed provider keeps %g", s2.Score(bad.Public))
	}
	// The newest attestation per author and receipt wins.
	attest(t, g, viewer, bad.Public, rb, nips.Partial, 50, t0.Add(2*time.Minute))
	s3 := g.Compute([]string{viewer.Public}, t0, DefaultTrustParams())
	if s3.Score(bad.Public) <= 0 || s3.Score(bad.Public) >= s3.Score(good.Public) {
		t.Fatalf("partial 50: bad %g good %g", s3.Score(bad.Public), s3.Score(good.Public))
	}
}

func TestTrustIgnoresWeakEvidence(t *testing.T) {
	g := NewTrustGraph()
	if g.AddReceipt(nips.Receipt{Pubkey: hexID("p"), Buyer: hexID("b"), Session: hexID("s"), Paid: 5}) {
		t.Fatal("receipt without countersignature counted")
	}
	if g.AddReceipt(nips.Receipt{Pubkey: hexID("p"), Buyer: hexID("b"), Session: hexID("s"), Countersig: "00", Paid: 0}) {
		t.Fatal("unpaid receipt counted")
	}
	viewer, p := nipstest.NewKey("viewer"), nipstest.NewKey("p")
	trade(t, g, p, viewer, 1000, t0, "x")
	if s := g.Compute(nil, t0, DefaultTrustParams()); s.Known(p.Public) || len(s.Top(10)) != 0 {
		t.Fatal("no seeds must mean no trust")
	}
	s := g.Compute([]string{viewer.Public, viewer.Public}, t0, TrustParams{})
	top := s.Top(10)
	if len(top) != 2 || top[0].Pubkey != viewer.Public || top[0].Rank != 100 || top[1].Rank != 100 {
		t.Fatalf("top %+v", top)
	}
	var sum float64
	for _, r := range top {
		sum += r.Score
	}
	if sum < 0.999999 || sum > 1.000001 {
		t.Fatalf("scores sum to %g, want 1", sum)
	}
}

func TestTrustDeterministic(t *testing.T) {
	viewer := nipstest.NewKey("viewer")
	var first map[string]float64
	for run := 0; run < 3; run++ {
		g := NewTrustGraph()
		for i := 0; i < 20; i++ {
			p := nipstest.NewKey(fmt.Sprintf("p%d", i))
			b := viewer
			if i > 0 {
				b = nipstest.NewKey(fmt.Sprintf("p%d", i-1))
			}
			trade(t, g, p, b, uint64(1000*(i+1)), t0, fmt.Sprintf("s%d", i))
		}
		s := g.Compute([]string{viewer.Public}, t0, DefaultTrustParams())
		if first == nil {
			first = s.score
			continue
		}
		for k, v := range first {
			if s.score[k] != v {
				t.Fatalf("run %d: score of %s differs", run, k[:8])
			}
		}
	}
}

// Score returns the key's share of trust (the scores sum to 1 over all keys).
func (s *Scores) Score(pubkey string) float64 { return s.score[pubkey] }
