// Package marketplace joins the market to the relay: it is the one place
// where relay and market meet. It refuses market events that do not parse
// (invalid: with the reason), feeds accepted offers, bids, deletions,
// receipts and attestations to the order book and the trust graph, runs the
// matching engine and publishes its proposals signed by the relay's key
// (the offers' providers confirm them with their matches or refuse them),
// gives trusted keys higher rate limits than unknown ones, and serves sorted
// order-book views over HTTP.
//
//	m := marketplace.New(marketplace.DefaultConfig(), log)
//	store, _ := relay.OpenStore(cfg, log)
//	r, _ := relay.New(cfg, store, m.Options()...)
//	_ = m.Start(ctx, r) // replays the store, starts matching
package marketplace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay"
)

// Config tunes the marketplace.
type Config struct {
	// Operator is the operator's hex pubkey (meshrelay's --operator), or
	// "". Like the relay's own key, it is a trust seed without being listed
	// in Seeds: the operator's own settled trades rank providers on a fresh
	// relay.
	Operator string
	// Seeds are further hex pubkeys whose view of trust the relay takes,
	// besides its own key and Operator. Trust flows from them along settled
	// receipts.
	Seeds []string
	// TrustInterval is how often trust scores are recomputed.
	TrustInterval time.Duration
	// ExpireInterval is how often expired orders leave the book.
	ExpireInterval time.Duration
	// ProposalTTL is how long a provider has to confirm or refuse a
	// proposal before the bid and the capacity return to the book.
	ProposalTTL time.Duration
	// UnknownRate and UnknownBurst limit the events per second of keys with
	// no trust; TrustedRate and TrustedBurst those of the most trusted keys.
	// Keys in between get a rate that grows with their rank.
	UnknownRate  float64
	UnknownBurst int
	TrustedRate  float64
	TrustedBurst int
	// QueueSize bounds the events waiting for the matching engine.
	QueueSize int
	// Clock is the time the market runs on (nil: time.Now); tests set it
	// to lapse proposals without waiting.
	Clock func() time.Time
}

// DefaultConfig returns the marketplace defaults.
func DefaultConfig() Config {
	return Config{
		TrustInterval:  30 * time.Second,
		ExpireInterval: 5 * time.Second,
		ProposalTTL:    time.Minute,
		UnknownRate:    5,
		UnknownBurst:   50,
		TrustedRate:    200,
		TrustedBurst:   2000,
		QueueSize:      4096,
	}
}

// ErrInvalidConfig is wrapped by Validate's errors.
var ErrInvalidConfig = errors.New("invalid marketplace configuration")

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	for _, s := range c.Seeds {
		if !nostr.IsValid32ByteHex(s) {
			return fmt.Errorf("%w: seed %q is not a 64-character hex pubkey", ErrInvalidConfig, s)
		}
	}
	if c.Operator != "" && !nostr.IsValid32ByteHex(c.Operator) {
		return fmt.Errorf("%w: operator %q is not a 64-character hex pubkey", ErrInvalidConfig, c.Operator)
	}
	if c.TrustInterval <= 0 || c.ExpireInterval <= 0 {
		return fmt.Errorf("%w: intervals must be positive", ErrInvalidConfig)
	}
	if c.ProposalTTL < time.Second || c.ProposalTTL > nips.MaxProposalTTL*time.Second {
		return fmt.Errorf("%w: proposal TTL %s must be in [1s, %ds]", ErrInvalidConfig, c.ProposalTTL, nips.MaxProposalTTL)
	}
	if c.UnknownRate < 0 || c.TrustedRate < c.UnknownRate || c.UnknownBurst < 1 || c.TrustedBurst < c.UnknownBurst {
		return fmt.Errorf("%w: want 0 <= unknown rate <= trusted rate and 1 <= unknown burst <= trusted burst", ErrInvalidConfig)
	}
	if c.QueueSize < 1 {
		return fmt.Errorf("%w: queue size must be positive", ErrInvalidConfig)
	}
	return nil
}

// Marketplace is the market inside one relay.
type Marketplace struct {
	cfg    Config
	log    *slog.Logger
	x      *market.Exchange
	graph  *market.TrustGraph
	scores atomic.Pointer[market.Scores]
	queue  chan *nostr.Event
	r      *relay.Relay
	now    func() time.Time

	// leads passes each lead leadLoop takes to the matching goroutine;
	// lead is the current one's context (nil or ended: a follower).
	leads chan leadership
	lead  atomic.Pointer[context.Context]
	// rebuild asks the matching goroutine to rebuild the book from the
	// store (events of other processes were missed).
	rebuild chan struct{}

	proposalsPublished atomic.Int64
	// asserted is the rank last published as a NIP-85 assertion for each
	// key (owned by maintenanceLoop).
	asserted map[string]int

	wg      sync.WaitGroup
	started atomic.Bool
}

// New returns a marketplace; call Options before relay.New and Start after.
func New(cfg Config, log *slog.Logger) (*Marketplace, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Marketplace{
		cfg:      cfg,
		log:      log,
		graph:    market.NewTrustGraph(),
		asserted: make(map[string]int),
		queue:    make(chan *nostr.Event, cfg.QueueSize),
		leads:    make(chan leadership),
		rebuild:  make(chan struct{}, 1),
		now:      cfg.Clock,
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.scores.Store(m.graph.Compute(nil, time.Now(), market.DefaultTrustParams()))
	mcfg := market.DefaultConfig()
	mcfg.ProposalTTL = cfg.ProposalTTL
	mcfg.Trust = m.rank
	x, err := market.NewExchange(mcfg)
	if err != nil {
		return nil, fmt.Errorf("order book: %w", err)
	}
	m.x = x
	return m, nil
}

// Options are the relay options the marketplace needs.
func (m *Marketplace) Options() []relay.Option {
	return append(ValidationOptions(), relay.WithEventPolicy("market_end", m.ownEnds),
		relay.WithInfo(func(info *relay.Info) { info.Matching = true }),
		relay.WithPubkeyRate(m.rate), relay.WithOnEvent(m.onEvent), relay.WithOnRemoteResume(m.resume),
		relay.WithCollector(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sovmesh_market_proposals_published_total",
			Help: "Proposals (kind 8468) this relay's matching engine published since start.",
		}, func() float64 { return float64(m.ProposalsPublished()) })),
		relay.WithCollector(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sovmesh_market_proposals_pending",
			Help: "Proposals waiting for their provider's match or refusal (their quantity held out of the bid and the offer).",
		}, func() float64 { return float64(m.Pending()) })))
}

// ownEnds refuses end-of-proposals markers (kind 8470) signed by any key
// but the relay's own, unless a peer relays them: a client must not end
// another buyer's wait for proposals.
func (m *Marketplace) ownEnds(ctx context.Context, evt *nostr.Event) string {
	if evt.Kind != nips.KindProposalsEnd || relay.FromPeer(ctx) != "" || (m.r != nil && evt.PubKey == m.r.PublicKey()) {
		return ""
	}
	return "restricted: an end of proposals is published by the relay's matching engine"
}

// ValidationOptions refuse market events that do not parse, without the
// rest of the market (an offline import uses them).
func ValidationOptions() []relay.Option {
	return []relay.Option{relay.WithEventPolicy("market_invalid", validate)}
}

// validate refuses market events that do not parse.
func validate(_ context.Context, evt *nostr.Event) string {
	if err := nips.Validate(evt); err != nil {
		return "invalid: " + err.Error()
	}
	return ""
}

func (m *Marketplace) rank(pubkey string) int { return m.scores.Load().Rank(pubkey) }

// Trust returns the trust rank (0-100) of pubkey as the relay sees it, and
// whether the key is known to the trust graph at all.
func (m *Marketplace) Trust(pubkey string) (rank int, known bool) {
	s := m.scores.Load()
	return s.Rank(pubkey), s.Known(pubkey)
}

// rate is the per-author event rate: unknown keys get UnknownRate, and the
// rate rises with trust rank up to TrustedRate at rank 100.
func (m *Marketplace) rate(pubkey string) (float64, int) {
	s := m.scores.Load()
	if m.r != nil && pubkey == m.r.PublicKey() {
		return 0, 0 // the relay's own events are not limited
	}
	if !s.Known(pubkey) {
		return m.cfg.UnknownRate, m.cfg.UnknownBurst
	}
	f := float64(s.Rank(pubkey)) / 100
	r := m.cfg.UnknownRate + f*(m.cfg.TrustedRate-m.cfg.UnknownRate)
	b := m.cfg.UnknownBurst + int(math.Round(f*float64(m.cfg.TrustedBurst-m.cfg.UnknownBurst)))
	return r, b
}

// onEvent queues accepted market events for the matching goroutine.
func (m *Marketplace) onEvent(_ context.Context, evt *nostr.Event) {
	switch evt.Kind {
	case nips.KindOffer, nips.KindBid, nips.KindDeletion, nips.KindMatch, nips.KindRefusal, nips.KindReceipt, nips.KindAttestation:
	default:
		return
	}
	select {
	case m.queue <- evt:
	default:
		// The event is stored; the replay on the next start will book it.
		m.log.Warn("matching queue full; event booked at next start", "id", evt.ID, "kind", evt.Kind)
	}
}

// Start replays the market events in the store into the book and the trust
// graph, then runs matching, expiry and trust recomputation until ctx ends.
// It registers GET /api/book on the relay's mux.
//
// On a store several relay processes share (PostgreSQL), one of them leads:
// it publishes the matches and trust assertions. The others keep the book
// and the trust graph from every process's events for their views and rate
// limits, and one takes over within about LeadPollInterval when the leader
// goes (see leader).
func (m *Marketplace) Start(ctx context.Context, r *relay.Relay) error {
	if !m.started.CompareAndSwap(false, true) {
		return errors.New("marketplace already started")
	}
	m.r = r
	if ks, ok := r.Store().(keyedStore); ok {
		if err := ks.ClaimMarketKey(ctx, r.PublicKey()); err != nil {
			return err
		}
	}
	l, ok := r.Store().(leader)
	if !ok {
		l = soleLeader{}
	}
	lead, led, err := tryLead(ctx, l)
	if err != nil {
		m.log.Warn("matching engine lead not taken", "err", err)
	}
	if led {
		m.lead.Store(&lead.ctx)
		m.log.Info("matching engine lead taken")
	}
	if err := m.replay(ctx, led); err != nil {
		if led {
			lead.release()
		}
		return fmt.Errorf("replay market events: %w", err)
	}
	m.recomputeTrust()
	r.Mux().HandleFunc("GET /api/book", m.serveBook)
	m.wg.Add(3)
	go func() {
		defer m.wg.Done()
		m.matchLoop(ctx)
	}()
	go func() {
		defer m.wg.Done()
		m.maintenanceLoop(ctx)
	}()
	go func() {
		defer m.wg.Done()
		m.leadLoop(ctx, l, lead.ctx)
	}()
	return nil
}

// Wait returns when the goroutines Start began have stopped (after ctx ends).
func (m *Marketplace) Wait() { m.wg.Wait() }

// ProposalsPublished counts the proposals the engine has published.
func (m *Marketplace) ProposalsPublished() int64 { return m.proposalsPublished.Load() }

// Pending returns the proposals awaiting their providers.
func (m *Marketplace) Pending() int { return m.x.Pending() }

func (m *Marketplace) maintenanceLoop(ctx context.Context) {
	expire := time.NewTicker(m.cfg.ExpireInterval)
	trust := time.NewTicker(m.cfg.TrustInterval)
	defer expire.Stop()
	defer trust.Stop()
	if m.leading() {
		m.publishAssertions(ctx, m.scores.Load())
	}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-expire.C:
			if n := m.x.Expire(now); n > 0 {
				m.log.Debug("orders expired", "count", n)
			}
		case <-trust.C:
			m.recomputeTrust()
			if m.leading() {
				m.publishAssertions(ctx, m.scores.Load())
			}
		}
	}
}

// recomputeTrust computes scores from the seeds: the relay's key, the
// operator's and Seeds; and resets the rate buckets of keys whose rank
// changed.
func (m *Marketplace) recomputeTrust() {
	seeds := append([]string{m.r.PublicKey()}, m.cfg.Seeds...)
	if m.cfg.Operator != "" {
		seeds = append(seeds, m.cfg.Operator)
	}
	next := m.graph.Compute(seeds, m.now(), market.DefaultTrustParams())
	prev := m.scores.Swap(next)
	for _, k := range append(next.Top(math.MaxInt), prev.Top(math.MaxInt)...) {
		if prev.Rank(k.Pubkey) != next.Rank(k.Pubkey) || prev.Known(k.Pubkey) != next.Known(k.Pubkey) {
			m.r.ForgetPubkeyRate(k.Pubkey)
		}
	}
}
