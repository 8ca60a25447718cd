// Package buyer is agentd's buying role: it discovers offers through the
// relays, ranks them by price, trust and measured latency, bids on the
// best, takes the provider's match and pays step by step over transport;
// it stores and fetches files, serves a local OpenAI-compatible endpoint
// and a SOCKS5 proxy, and moves to the next-best provider when one stops
// answering.
package buyer

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/safebox"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// Errors.
var (
	ErrNoOffer = errors.New("buyer: no acceptable offer")
	ErrNoMatch = errors.New("buyer: no match from the provider")
)

// Config tunes the buyer. Zero values take the defaults.
type Config struct {
	// Ceilings are the most the buyer pays, per resource (default:
	// storage 10^7 msat per GiB-day, bandwidth 10^5 msat per MiB,
	// inference 10^8 msat per 1M tokens each way).
	Ceilings map[nips.Resource]nips.Prices
	// Replicas is the number of storage providers a file is spread over
	// (Reed-Solomon: survives the loss of one); default 3.
	Replicas int
	// MinProviders is the fewest providers a put may succeed with (default:
	// enough to survive losing one, 2, or 1 when Replicas is 1). A put that
	// reaches fewer fails and says how many it reached.
	MinProviders int
	// StorageDuration is how long files are stored (default 30 days).
	StorageDuration time.Duration
	// StallTimeout is how long a provider may stay silent mid-session
	// (between chunks) before the buyer moves to the next one (default 2 s).
	StallTimeout time.Duration
	// FirstChunkTimeout bounds the wait for a completion's first chunk,
	// which includes the provider redeeming the payment and the model
	// reading the prompt (default 30 s).
	FirstChunkTimeout time.Duration
	// MatchTimeout bounds the wait for a provider's match (default 5 s).
	MatchTimeout time.Duration
	// Seeds are extra trusted keys for trust ranking (the buyer's own key
	// is always a seed).
	Seeds []string
	// StepBytes is the least bought per payment step (default 8 MiB: each
	// step is a token swap at the mint, ~30-50 ms; see BenchmarkPutPaid).
	// A large file's steps are larger: an eighth of a provider's share.
	StepBytes uint64
	// BandwidthMiB is the quantity bid for a bandwidth session (default 1024).
	BandwidthMiB uint64
	// Streams is the number of parallel streams per storage provider
	// (default 8). They share one credit with the provider, so more
	// streams do not pay ahead for more.
	Streams int
	// PrivateBids gift-wraps bids (NIP-59) to the provider, so the relay
	// never sees what the buyer bids for.
	PrivateBids bool
	// OpenBids buys bandwidth, inference and new puts' storage with open
	// bids (OpenBid, openStorageBid): the relays' engines propose them to
	// offers, the providers confirm, and the buyer takes the best confirmed
	// matches by its own ranking (one, or Replicas for a put) and declines
	// the others. Without it the buyer ranks the offers itself and bids on
	// the best (targeted bids). A resumed put always uses targeted bids on
	// the providers it began with.
	OpenBids bool
	// InferenceSources says where inference is bought: sovmesh offers
	// (SourcesMarket, the default), Routstr providers announced with kind
	// 38421 (SourcesRoutstr), or both ranked together (SourcesAll).
	InferenceSources Sources
	// AllowPrivateSources lets the buyer reach Routstr providers announced
	// at loopback and private addresses (tests, a LAN); by default it
	// connects to public addresses only.
	AllowPrivateSources bool
}

// StorageCeiling is the most a buyer pays for storage given the most per
// GiB-day: a GiB uploaded or retrieved at most what a GiB-day may cost.
func StorageCeiling(perGiBDay uint64) nips.Prices {
	return nips.Prices{{Unit: nips.UnitGiBDay, Msat: perGiBDay}, {Unit: nips.UnitGiBUpload, Msat: perGiBDay}, {Unit: nips.UnitGiBRetrieval, Msat: perGiBDay}}
}

func (c *Config) defaults() {
	if c.Ceilings == nil {
		c.Ceilings = map[nips.Resource]nips.Prices{}
	}
	if c.Ceilings[nips.Storage] == nil {
		c.Ceilings[nips.Storage] = StorageCeiling(10_000_000)
	} else if hold, ok := c.Ceilings[nips.Storage].Of(nips.UnitGiBDay); ok {
		// A ceiling on holding alone caps upload and retrieval as
		// StorageCeiling does.
		full := StorageCeiling(hold)
		for i, p := range full {
			if v, ok := c.Ceilings[nips.Storage].Of(p.Unit); ok {
				full[i].Msat = v
			}
		}
		c.Ceilings[nips.Storage] = full
	}
	if c.Ceilings[nips.Bandwidth] == nil {
		c.Ceilings[nips.Bandwidth] = nips.Prices{{Unit: nips.UnitMiB, Msat: 100_000}}
	}
	if c.Ceilings[nips.Inference] == nil {
		c.Ceilings[nips.Inference] = nips.Prices{{Unit: nips.UnitMInputTokens, Msat: 100_000_000}, {Unit: nips.UnitMOutputTokens, Msat: 100_000_000}}
	}
	if c.Replicas <= 0 {
		c.Replicas = 3
	}
	if c.MinProviders <= 0 {
		c.MinProviders = min(2, c.Replicas)
	}
	if c.StorageDuration <= 0 {
		c.StorageDuration = 30 * 24 * time.Hour
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = 2 * time.Second
	}
	if c.FirstChunkTimeout <= 0 {
		c.FirstChunkTimeout = 30 * time.Second
	}
	if c.MatchTimeout <= 0 {
		c.MatchTimeout = 5 * time.Second
	}
	if c.StepBytes == 0 {
		c.StepBytes = 8 << 20
	}
	if c.Streams <= 0 {
		c.Streams = 8
	}
	if c.InferenceSources == "" {
		c.InferenceSources = SourcesMarket
	}
	if c.BandwidthMiB == 0 {
		c.BandwidthMiB = 1024
	}
}

// Buyer is the buying role of a node.
type Buyer struct {
	// What it uses of the agent's node (New takes them from it).
	pubkey, secret string // the node's key
	db             *state.DB
	wallet         *cashu.Wallet
	budget         *state.Budget
	box            *safebox.Box
	relays         relayPool
	node           publisher
	host           *transport.Host

	cfg    Config
	log    *slog.Logger
	change *ChangeCollector

	mu         sync.Mutex
	sessions   map[string]*Session // provider+resource -> open session
	dead       map[string]deadMark // provider pubkey -> why it is skipped
	cache      map[string]cached
	recoveries []time.Duration
	matching   map[string]bool // relay URL -> it runs matching (matchingRelays)
	rsHTTP     *http.Client    // Routstr requests (routstr.go)

	// bg ends the open bids' subscriptions kept to decline late matches
	// (openBid); watch waits for them. Close ends and waits.
	bg    context.Context
	stop  context.CancelFunc
	watch sync.WaitGroup
}

// relayPool is what a buyer asks of the relays directly.
type relayPool interface {
	Query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error)
	Subscribe(ctx context.Context, filters nostr.Filters, fn func(*nostr.Event), ready chan<- struct{})
	// URLs are the relays (an open bid expects an end of proposals from
	// as many).
	URLs() []string
}

// publisher signs and publishes the buyer's events (paying relay fees,
// through the outbox).
type publisher interface {
	Publish(ctx context.Context, ev nostr.Event) (nostr.Event, error)
	PublishSigned(ctx context.Context, ev nostr.Event) error
}

// New returns a buyer on node n (with a wallet and a started host).
func New(ctx context.Context, n *agentd.Node, cfg Config) (*Buyer, error) {
	cfg.defaults()
	if _, err := n.NeedWallet(); err != nil {
		return nil, err
	}
	if err := n.StartHost(ctx); err != nil {
		return nil, err
	}
	b := &Buyer{pubkey: n.Key.Pubkey, secret: n.Key.Secret, db: n.DB, wallet: n.Wallet, budget: n.Budget(), box: n.Box(),
		relays: n.Relays, node: n, host: n.Host,
		cfg: cfg, log: n.Log.With("role", "buyer"), sessions: map[string]*Session{}, dead: map[string]deadMark{},
		rsHTTP: newRoutstrHTTP(cfg.AllowPrivateSources), change: NewChangeCollector(n)}
	b.bg, b.stop = context.WithCancel(context.Background())
	if _, err := n.FlushOutbox(ctx); err != nil {
		b.log.Info("queued events not published yet", "err", err)
	}
	if got, err := b.CollectChange(ctx); err == nil && got > 0 {
		b.log.Info("change collected from the relays", "sats", got)
	}
	return b, nil
}

func (b *Buyer) payment() nips.Payment {
	return nips.Payment{Method: nips.PayCashu, Mint: b.wallet.Mints()[0], Unit: "sat"}
}

// deadMark records a provider that stopped answering at the addresses of
// its offer published at offerAt.
type deadMark struct {
	until   time.Time
	offerAt nostr.Timestamp
}

// markDead excludes the provider of o from ranking for a minute, or until
// it publishes an offer newer than o: a restarted provider announces its
// new addresses, and is worth a probe at once.
func (b *Buyer) markDead(o nips.Offer) {
	b.mu.Lock()
	b.dead[o.Pubkey] = deadMark{until: time.Now().Add(time.Minute), offerAt: o.CreatedAt}
	for k, s := range b.sessions {
		if s.Provider == o.Pubkey {
			delete(b.sessions, k)
		}
	}
	b.mu.Unlock()
	_ = b.db.Observe(context.Background(), o.Pubkey, 0, false)
}

// isDead reports whether o's provider is marked dead and o is no newer
// than the offer it failed on.
func (b *Buyer) isDead(o nips.Offer) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.dead[o.Pubkey]
	if ok && time.Now().After(m.until) {
		delete(b.dead, o.Pubkey)
		return false
	}
	return ok && o.CreatedAt <= m.offerAt
}
