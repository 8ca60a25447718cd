package market

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// TrustParams tunes the trust computation.
type TrustParams struct {
	// HalfLife is the age at which a receipt's weight halves. Default 90 days.
	HalfLife time.Duration
	// Damping is the share of a key's score it passes on along its edges;
	// the rest returns to the seeds. Default 0.85.
	Damping float64
	// MaxIterations bounds the power iteration. Default 100.
	MaxIterations int
	// Tolerance stops the iteration when the L1 change falls below it.
	// Default 1e-12.
	Tolerance float64
}

// DefaultTrustParams returns the defaults.
func DefaultTrustParams() TrustParams {
	return TrustParams{HalfLife: 90 * 24 * time.Hour, Damping: 0.85, MaxIterations: 100, Tolerance: 1e-12}
}

type sessionKey struct{ provider, session string }

type attKey struct{ author, receipt string }

// TrustGraph collects countersigned receipts and attestations, and computes
// trust scores from a viewer's seed keys. It is safe for concurrent use.
//
// # How trust works
//
// Trust flows only along settled money, starting from keys the viewer
// already trusts (the seeds), and is never a count.
//
//  1. Evidence. A receipt counts if it is countersigned by the buyer (so
//     both parties signed it) and paid > 0; per (provider, session) only the
//     newest counts. It adds two edges: buyer→provider (the buyer vouches
//     for what it received) and provider→buyer (the provider vouches that it
//     was paid), each of weight paid × 2^(−age/HalfLife).
//  2. Attestations adjust an edge, never add one: an attestation counts only
//     if its receipt is known and its author and subject are the receipt's
//     two parties; the newest per (author, receipt) wins. Its edge then
//     weighs min(paid, settled) × rating/100 (0 for "failed").
//  3. Flow. Scores are personalized PageRank: each round, a key keeps
//     passing Damping of its score to the keys it has edges to, in
//     proportion to edge weight (so its total outflow is its own score,
//     however many receipts it holds), and 1 − Damping (and the score of
//     keys with no edges) returns to the seeds.
//
// A swarm of fresh keys that trade with each other, however large their
// receipts, receives only what flows in over edges from keys the seeds reach:
// money honest keys really settled with swarm members, in proportion to
// their other trade. With no such edge the swarm scores 0.
type TrustGraph struct {
	mu       sync.Mutex
	receipts map[sessionKey]nips.Receipt
	byID     map[string]sessionKey
	atts     map[attKey]nips.Attestation
}

// NewTrustGraph returns an empty graph.
func NewTrustGraph() *TrustGraph {
	return &TrustGraph{
		receipts: make(map[sessionKey]nips.Receipt),
		byID:     make(map[string]sessionKey),
		atts:     make(map[attKey]nips.Attestation),
	}
}

// AddReceipt records a parsed receipt. It reports whether the receipt
// counts (countersigned, paid > 0, and newer than the session's previous).
func (g *TrustGraph) AddReceipt(r nips.Receipt) bool {
	if !r.Countersigned() || r.Paid == 0 || r.Pubkey == r.Buyer {
		return false
	}
	k := sessionKey{r.Pubkey, r.Session}
	g.mu.Lock()
	defer g.mu.Unlock()
	if old, ok := g.receipts[k]; ok {
		if r.CreatedAt < old.CreatedAt || (r.CreatedAt == old.CreatedAt && r.EventID >= old.EventID) {
			return false
		}
		delete(g.byID, old.EventID)
	}
	g.receipts[k] = r
	g.byID[r.EventID] = k
	return true
}

// AddAttestation records a parsed attestation; it counts at Compute time if
// its receipt is known then. It reports whether it replaced nothing newer.
func (g *TrustGraph) AddAttestation(a nips.Attestation) bool {
	k := attKey{a.Pubkey, a.Receipt}
	g.mu.Lock()
	defer g.mu.Unlock()
	if old, ok := g.atts[k]; ok && (a.CreatedAt < old.CreatedAt || (a.CreatedAt == old.CreatedAt && a.EventID >= old.EventID)) {
		return false
	}
	g.atts[k] = a
	return true
}

// Scores is an immutable result of TrustGraph.Compute.
type Scores struct {
	score map[string]float64
	rank  map[string]int
}

// Rank returns the key's trust rank, 0-100: 100 for a seed and for the best
// non-seed key, falling by 20 per factor of 10 below it, at least 1 for any
// key with positive score, and 0 for unknown keys. It is a TrustFunc.
func (s *Scores) Rank(pubkey string) int { return s.rank[pubkey] }

// Known reports whether the key has any trust.
func (s *Scores) Known(pubkey string) bool { return s.score[pubkey] > 0 }

// Ranked is a key with its score and rank.
type Ranked struct {
	Pubkey string  `json:"pubkey"`
	Score  float64 `json:"score"`
	Rank   int     `json:"rank"`
}

// Top returns the n keys with the highest scores, best first.
func (s *Scores) Top(n int) []Ranked {
	out := make([]Ranked, 0, len(s.score))
	for k, v := range s.score {
		if v > 0 {
			out = append(out, Ranked{k, v, s.rank[k]})
		}
	}
	slices.SortFunc(out, func(a, b Ranked) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Pubkey, b.Pubkey))
	})
	return out[:min(n, len(out))]
}

// Compute returns the scores seen from seeds at now. Seeds share the
// restart mass equally; with no seeds every key scores 0.
func (g *TrustGraph) Compute(seeds []string, now time.Time, p TrustParams) *Scores {
	def := DefaultTrustParams()
	if p.HalfLife <= 0 {
		p.HalfLife = def.HalfLife
	}
	if p.Damping <= 0 || p.Damping >= 1 {
		p.Damping = def.Damping
	}
	if p.MaxIterations <= 0 {
		p.MaxIterations = def.MaxIterations
	}
	if p.Tolerance <= 0 {
		p.Tolerance = def.Tolerance
	}

	g.mu.Lock()
	// Index keys in a fixed order so the result does not depend on map order.
	index := map[string]int{}
	var keys []string
	id := func(k string) int {
		if i, ok := index[k]; ok {
			return i
		}
		index[k] = len(keys)
		keys = append(keys, k)
		return len(keys) - 1
	}
	type edge struct {
		from, to int
		w        float64
	}
	rs := make([]nips.Receipt, 0, len(g.receipts))
	for _, r := range g.receipts {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b nips.Receipt) int { return cmp.Compare(a.EventID, b.EventID) })
	seeds = slices.Clone(seeds)
	slices.Sort(seeds)
	seeds = slices.Compact(seeds)
	for _, s := range seeds {
		id(s)
	}
	var edges []edge
	nowSec := float64(now.Unix())
	for _, r := range rs {
		age := max(nowSec-float64(r.CreatedAt), 0)
		decay := math.Exp2(-age / p.HalfLife.Seconds())
		for _, dir := range [2][2]string{{r.Buyer, r.Pubkey}, {r.Pubkey, r.Buyer}} {
			w := float64(r.Paid)
			if a, ok := g.atts[attKey{dir[0], r.EventID}]; ok && a.Subject == dir[1] {
				w = float64(min(r.Paid, a.Settled)) * float64(a.Rating) / 100
				if a.Outcome == nips.Failed {
					w = 0
				}
			}
			if w *= decay; w > 0 {
				edges = append(edges, edge{id(dir[0]), id(dir[1]), w})
			}
		}
	}
	g.mu.Unlock()

	n := len(keys)
	out := make([]float64, n)
	for _, e := range edges {
		out[e.from] += e.w
	}
	restart := make([]float64, n)
	for _, s := range seeds {
		restart[index[s]] = 1 / float64(len(seeds))
	}
	score := slices.Clone(restart)
	next := make([]float64, n)
	for it := 0; it < p.MaxIterations && len(seeds) > 0; it++ {
		clear(next)
		var leaked float64 // mass of keys with no edges, back to the seeds
		for i, s := range score {
			if out[i] == 0 {
				leaked += s
			}
		}
		for _, e := range edges {
			next[e.to] += p.Damping * score[e.from] * e.w / out[e.from]
		}
		var passed float64
		for i := range score {
			if out[i] > 0 {
				passed += score[i]
			}
		}
		back := (1-p.Damping)*passed + leaked
		var delta float64
		for i := range next {
			next[i] += back * restart[i]
			delta += math.Abs(next[i] - score[i])
		}
		score, next = next, score
		if delta < p.Tolerance {
			break
		}
	}

	s := &Scores{score: make(map[string]float64, n), rank: make(map[string]int, n)}
	isSeed := make(map[string]bool, len(seeds))
	for _, k := range seeds {
		isSeed[k] = true
	}
	var best float64
	for i, k := range keys {
		if !isSeed[k] {
			best = max(best, score[i])
		}
	}
	for i, k := range keys {
		v := score[i]
		if v <= 0 {
			continue
		}
		s.score[k] = v
		switch {
		case isSeed[k] || v >= best:
			s.rank[k] = 100
		default:
			r := int(math.Round(100 + 20*math.Log10(v/best)))
			s.rank[k] = min(max(r, 1), 100)
		}
	}
	return s
}

// Apply feeds one accepted event to the graph: a receipt or an attestation
// is parsed and recorded; other kinds are ignored. It reports whether the
// event was recorded, and returns the parse error of a malformed one.
func (g *TrustGraph) Apply(evt *nostr.Event) (bool, error) {
	switch evt.Kind {
	case nips.KindReceipt:
		r, err := nips.ParseReceipt(evt)
		if err != nil {
			return false, err
		}
		return g.AddReceipt(r), nil
	case nips.KindAttestation:
		a, err := nips.ParseAttestation(evt)
		if err != nil {
			return false, err
		}
		return g.AddAttestation(a), nil
	}
	return false, nil
}
