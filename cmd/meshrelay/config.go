package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sovmesh/sovmesh/internal/crashat"
	"github.com/sovmesh/sovmesh/internal/settings"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/marketplace"
	"github.com/sovmesh/sovmesh/relay/web"
)

// parseConfig builds the relay configuration from flags, SOVMESH_*
// variables, the optional config file and the defaults, then validates it.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	c := defaultsForDocs()
	fs := newFlagSet(&c, out)
	if err := settings.Load(fs, args, getenv, "config"); err != nil {
		return c, err
	}
	if err := c.relay.Validate(); err != nil {
		return c, err
	}
	// The operator's key is a trust seed, as the relay's own key is.
	c.market.Operator = c.web.Operator
	if err := c.market.Validate(); err != nil {
		return c, err
	}
	if _, _, err := net.SplitHostPort(c.pay.devMintListen); err != nil {
		return c, fmt.Errorf("dev-mint-listen %q: want host:port", c.pay.devMintListen)
	}
	if !devMintBuilt && len(c.pay.mints) == 0 {
		return c, errNoDevMint
	}
	if !devMintBuilt && c.pay.devMintListen != defaultsForDocs().pay.devMintListen {
		return c, fmt.Errorf("dev-mint-listen %q: %w", c.pay.devMintListen, errNoDevMint)
	}
	if c.relay.Database != "" && (c.pay.offerFee > 0 || c.pay.matchFee > 0) && len(c.pay.mints) == 0 {
		// Processes sharing one wallet must take the same mints' ecash; a
		// development mint is each process's own.
		return c, errFeesNeedMints
	}
	if c.pay.offerFeePeriod < 0 {
		return c, fmt.Errorf("offer-fee-period %v: must not be negative", c.pay.offerFeePeriod)
	}
	// A crash test's kill point (internal/crashat); not a flag.
	hook, err := crashat.FromEnv(getenv)
	if err != nil {
		return c, err
	}
	c.pay.stepHook = hook
	return c, nil
}

// errFeesNeedMints: relay processes on one database share one wallet, which
// takes the ecash of the mints every process names; the development mint
// that runs without --mints is each process's own.
var errFeesNeedMints = errors.New("offer-fee and match-fee with database: set mints (the same on every relay process); the development mint is each process's own")

// errNoDevMint: a nodevmint build was given no --mints, or a
// --dev-mint-listen: both ask for the development mint it does not have.
var errNoDevMint = errors.New("this meshrelay is built with the nodevmint tag, without the development mint that runs when --mints is empty: set --mints")

// config is everything meshrelay reads.
type config struct {
	relay  relay.Config
	market marketplace.Config
	pay    payOptions
	web    web.Config
	log    logOptions
}

// payOptions configure the relay's wallet and fees.
type payOptions struct {
	mints    []string // accepted mints; none = run the embedded dev mint (test money)
	offerFee uint64   // sats per offer published
	// offerFeePeriod: an offer address (kind:pubkey:d) pays the offer fee
	// once per period, however often it is republished.
	offerFeePeriod time.Duration
	matchFee       uint64 // sats per open bid the relay matches
	// devMintListen is where the embedded dev mint listens (port 0: the
	// port picked at first start, kept in the data directory).
	devMintListen string
	// stepHook is the crash tests' kill point in the wallet and the fee
	// collector (SOVMESH_CRASH_AT, internal/crashat); nil without it.
	stepHook func(step string) error
}

// defaultsForDocs returns the values the flag table documents.
func defaultsForDocs() config {
	rc := relay.DefaultConfig()
	rc.PeerKinds = defaultPeerKinds()
	return config{rc, marketplace.DefaultConfig(), payOptions{devMintListen: "127.0.0.1:0", offerFeePeriod: 24 * time.Hour}, web.DefaultConfig(), logOptions{level: "info", format: "text"}}
}

// defaultPeerKinds are the kinds kept in step with peers unless
// --peer-kinds says otherwise: the market's, their NIP-09 deletions, the
// NIP-59 gift wraps that carry private bids, and SafeBox entries (so an
// owner lists its files at any peer).
func defaultPeerKinds() []int {
	return append(nips.MarketKinds(), nips.KindDeletion, nips.KindGiftWrap, nips.KindSafeBox)
}

// parsePrefix reads a CIDR, or a single IP address as its own network.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("trusted proxy %q: want a CIDR such as 10.0.0.0/8 or an IP address", s)
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// envName is the environment variable of a flag.
func envName(flag string) string { return settings.EnvName(flag) }

func newFlagSet(c *config, out io.Writer) *flag.FlagSet {
	cfg, mc, po, wc, lo := &c.relay, &c.market, &c.pay, &c.web, &c.log
	fs := flag.NewFlagSet("meshrelay", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: meshrelay [flags]\n\nEvery flag can also be set as SOVMESH_<NAME> (for example SOVMESH_LISTEN)\nor as a \"name = value\" line in the file named by --config.\n\n")
		fs.PrintDefaults()
	}
	fs.String("config", "", "optional config `file` of \"name = value\" lines")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to listen on (HTTP and websocket)")
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "directory for the event database and the relay key")
	fs.StringVar(&cfg.Database, "database", cfg.Database, "postgres:// URL of a PostgreSQL database for the events, the market's matcher lock and the relay's wallet and fee ledger, shared by relays behind one load balancer (default: SQLite in the data directory); keep a password out of the command line: use SOVMESH_DATABASE, the config file or ~/.pgpass")
	fs.StringVar(&cfg.ServiceURL, "service-url", cfg.ServiceURL, "public ws:// or wss:// URL of the relay, the only one NIP-42 AUTH is accepted for (default: URLs naming the listen address)")
	fs.Func("trusted-proxies", "comma-separated CIDRs (or IPs) of reverse proxies whose X-Forwarded-For is believed (default: none)", func(v string) error {
		cfg.TrustedProxies = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			p, err := parsePrefix(s)
			if err != nil {
				return err
			}
			cfg.TrustedProxies = append(cfg.TrustedProxies, p)
		}
		return nil
	})
	fs.Func("peers", "comma-separated ws:// or wss:// relays kept in step with this one: live, and reconciled with NIP-77 on connect and every --peer-interval (default: none)", func(v string) error {
		cfg.Peers = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				cfg.Peers = append(cfg.Peers, s)
			}
		}
		return nil
	})
	fs.Func("peer-kinds", "comma-separated event kinds kept in step with the peers (default: the market's kinds, deletions, gift-wrapped bids and SafeBox entries)", func(v string) error {
		cfg.PeerKinds = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			k, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("kind %q: not a number", s)
			}
			cfg.PeerKinds = append(cfg.PeerKinds, k)
		}
		return nil
	})
	fs.DurationVar(&cfg.PeerInterval, "peer-interval", cfg.PeerInterval, "how often the stored events are reconciled with each peer (NIP-77)")
	fs.StringVar(&cfg.Name, "name", cfg.Name, "relay name in NIP-11")
	fs.StringVar(&cfg.Description, "description", cfg.Description, "relay description in NIP-11")
	fs.StringVar(&cfg.Contact, "contact", cfg.Contact, "operator contact in NIP-11")
	fs.TextVar(&cfg.Auth, "auth", cfg.Auth, "NIP-42 authentication required for: none, writes or all")
	fs.IntVar(&cfg.MaxMessageLength, "max-message-length", cfg.MaxMessageLength, "largest event message in bytes")
	fs.IntVar(&cfg.MaxSubscriptions, "max-subscriptions", cfg.MaxSubscriptions, "open subscriptions per connection")
	fs.IntVar(&cfg.MaxFilters, "max-filters", cfg.MaxFilters, "filters per REQ")
	fs.IntVar(&cfg.MaxLimit, "max-limit", cfg.MaxLimit, "largest limit a filter may ask for")
	fs.IntVar(&cfg.DefaultLimit, "default-limit", cfg.DefaultLimit, "limit of a filter that sets none")
	fs.IntVar(&cfg.MaxSubIDLength, "max-subid-length", cfg.MaxSubIDLength, "longest subscription id")
	fs.IntVar(&cfg.MaxEventTags, "max-event-tags", cfg.MaxEventTags, "most tags on one event")
	fs.IntVar(&cfg.MaxContentLength, "max-content-length", cfg.MaxContentLength, "largest event content in bytes")
	fs.IntVar(&cfg.MaxCountEvents, "max-count-events", cfg.MaxCountEvents, "most events a COUNT may match; a COUNT matching more is refused")
	fs.DurationVar(&cfg.CountTimeout, "count-timeout", cfg.CountTimeout, "longest a COUNT may run; a slower one is refused")
	fs.IntVar(&cfg.NegMaxRecords, "neg-max-records", cfg.NegMaxRecords, "most events a NIP-77 NEG-OPEN may select; a wider one is refused")
	fs.IntVar(&cfg.NegMaxSessions, "neg-max-sessions", cfg.NegMaxSessions, "NIP-77 negentropy sessions open at once per connection")
	fs.IntVar(&cfg.HeavyConcurrency, "heavy-concurrency", cfg.HeavyConcurrency, "COUNT and NEG-OPEN reads run at once, relay-wide (0: one less than the CPUs Go uses, at least 1)")
	fs.IntVar(&cfg.HeavyQueue, "heavy-queue", cfg.HeavyQueue, "COUNT and NEG-OPEN waiting for a running one to finish; one more is refused rate-limited")
	fs.Float64Var(&cfg.IPHeavyRate, "ip-heavy-rate", cfg.IPHeavyRate, "milliseconds of COUNT and NEG-OPEN work per second each client IP may use; a client over it is refused until it is paid back (0: no limit)")
	fs.IntVar(&cfg.IPHeavyBurst, "ip-heavy-burst", cfg.IPHeavyBurst, "burst of milliseconds of COUNT and NEG-OPEN work per client IP")
	fs.DurationVar(&cfg.HeavyCacheTTL, "heavy-cache-ttl", cfg.HeavyCacheTTL, "how long a COUNT's or NEG-OPEN's answer is reused for the same filter (0: never)")
	fs.IntVar(&cfg.MaxTagValueBytes, "max-tag-value-bytes", cfg.MaxTagValueBytes, "largest tag value in bytes")
	fs.DurationVar(&cfg.MaxPast, "max-past", cfg.MaxPast, "oldest created_at accepted, relative to now")
	fs.DurationVar(&cfg.MaxFuture, "max-future", cfg.MaxFuture, "newest created_at accepted, relative to now")
	fs.Float64Var(&cfg.IPEventRate, "ip-event-rate", cfg.IPEventRate, "events per second per client IP (0: no limit)")
	fs.IntVar(&cfg.IPEventBurst, "ip-event-burst", cfg.IPEventBurst, "burst of events per client IP")
	fs.Func("trust-seeds", "comma-separated hex pubkeys the relay trusts besides its own key and the operator's (which are always seeds); trust flows from them along settled receipts", func(v string) error {
		mc.Seeds = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				mc.Seeds = append(mc.Seeds, s)
			}
		}
		return nil
	})
	fs.Float64Var(&mc.UnknownRate, "unknown-event-rate", mc.UnknownRate, "events per second per author with no trust")
	fs.IntVar(&mc.UnknownBurst, "unknown-event-burst", mc.UnknownBurst, "burst of events per author with no trust")
	fs.Float64Var(&mc.TrustedRate, "trusted-event-rate", mc.TrustedRate, "events per second per author of trust rank 100; ranks between get rates between")
	fs.IntVar(&mc.TrustedBurst, "trusted-event-burst", mc.TrustedBurst, "burst of events per author of trust rank 100")
	fs.DurationVar(&mc.TrustInterval, "trust-interval", mc.TrustInterval, "how often trust scores are recomputed")
	fs.DurationVar(&mc.ProposalTTL, "proposal-ttl", mc.ProposalTTL, "how long a provider has to confirm the relay's proposal for an open bid before the bid and the capacity return to the book")
	fs.Float64Var(&cfg.IPReqRate, "ip-req-rate", cfg.IPReqRate, "REQ and COUNT per second per client IP (0: no limit)")
	fs.IntVar(&cfg.IPReqBurst, "ip-req-burst", cfg.IPReqBurst, "burst of REQ and COUNT per client IP")
	fs.Float64Var(&cfg.IPNegRate, "ip-neg-rate", cfg.IPNegRate, "NIP-77 NEG-OPEN per second per client IP (0: no limit)")
	fs.IntVar(&cfg.IPNegBurst, "ip-neg-burst", cfg.IPNegBurst, "burst of NEG-OPEN per client IP")
	fs.Float64Var(&cfg.IPReadRate, "ip-read-rate", cfg.IPReadRate, "stored events per second each client IP may make the relay read with REQ, COUNT and NEG-OPEN; a client over it is refused until it is paid back (0: no limit)")
	fs.IntVar(&cfg.IPReadBurst, "ip-read-burst", cfg.IPReadBurst, "burst of stored events read per client IP")
	fs.IntVar(&cfg.IPConnPerMinute, "ip-conn-per-minute", cfg.IPConnPerMinute, "new connections per minute per client IP (0: no limit)")
	fs.IntVar(&cfg.IPConnBurst, "ip-conn-burst", cfg.IPConnBurst, "new connections one client IP may open at once, within --ip-conn-per-minute (0: the whole minute's)")
	fs.DurationVar(&cfg.RateLimitedPause, "rate-limited-pause", cfg.RateLimitedPause, "longest a client over a rate limit waits: a message refused rate-limited pauses its connection (its next message is read) until the limit would admit one more (0: no pause)")
	fs.IntVar(&cfg.IPMaxConnections, "ip-max-connections", cfg.IPMaxConnections, "open websocket connections per client IP, an IPv6 client counting by its /64 (0: no limit)")
	fs.IntVar(&cfg.MaxConnections, "max-connections", cfg.MaxConnections, "open websocket connections in total (0: the open file limit less 1/8 for other files, at least 128 less, at most 16384)")
	fs.Func("mints", "comma-separated Cashu mint URLs the relay accepts fees in (default: an embedded development mint with TEST MONEY)", func(v string) error {
		po.mints = nil
		for _, m := range strings.Split(v, ",") {
			m = strings.TrimSpace(m)
			if m == "" {
				continue
			}
			u, err := url.Parse(m)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return fmt.Errorf("mint %q: want an http(s) URL", m)
			}
			po.mints = append(po.mints, m)
		}
		return nil
	})
	fs.StringVar(&po.devMintListen, "dev-mint-listen", po.devMintListen, "host:port of the embedded development mint; port 0 picks one at the first start and keeps it in the data directory, so the mint's URL survives restarts (refused by a nodevmint build)")
	fs.Uint64Var(&po.offerFee, "offer-fee", po.offerFee, "sats charged to publish an offer (0: free)")
	fs.DurationVar(&po.offerFeePeriod, "offer-fee-period", po.offerFeePeriod, "an offer pays the offer fee once per address (kind:pubkey:d) per period, however often it is republished (0: every publication pays)")
	fs.Uint64Var(&po.matchFee, "match-fee", po.matchFee, "sats charged per clear-text bid (kind 8460) published (0: free)")
	fs.Func("operator", "npub or hex pubkey allowed into /admin, and a trust seed (default: the relay's own key)", func(v string) error {
		pk, err := web.ParsePubkey(v)
		if err != nil {
			return err
		}
		wc.Operator = pk
		return nil
	})
	fs.IntVar(&cfg.SendQueueMessages, "send-queue-messages", cfg.SendQueueMessages, "messages waiting to be sent to one client; a client that falls further behind is disconnected")
	fs.IntVar(&cfg.SendQueueBytes, "send-queue-bytes", cfg.SendQueueBytes, "bytes waiting to be sent to one client; a client that falls further behind is disconnected (at least twice max-message-length)")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", cfg.WriteTimeout, "longest network write to a client; a client that takes longer is disconnected")
	fs.DurationVar(&cfg.MessageTimeout, "message-timeout", cfg.MessageTimeout, "longest time a client may take to send one message, from its first frame to its last")
	fs.StringVar(&wc.BaseURL, "public-url", wc.BaseURL, "public http(s):// origin of the relay's pages, the only one NIP-98 operator logins are accepted for (default: URLs naming the listen address)")
	fs.IntVar(&cfg.StoreBatch, "store-batch", cfg.StoreBatch, "most events the SQLite event store commits in one transaction, sharing one fsync")
	fs.DurationVar(&cfg.StoreBatchWait, "store-batch-wait", cfg.StoreBatchWait, "how long the SQLite event store's writer waits for more events once its queue is empty before it commits (0: at once; concurrent writers still share a commit)")
	fs.IntVar(&cfg.StoreReaders, "store-readers", cfg.StoreReaders, "read connections of the SQLite event store (0: twice the CPUs Go uses, at least 4)")
	fs.DurationVar(&cfg.PurgeInterval, "purge-interval", cfg.PurgeInterval, "how often expired events (NIP-40) are deleted from the event store (0: never; they are never served either way)")
	fs.IntVar(&cfg.PurgeBatch, "purge-batch", cfg.PurgeBatch, "most expired events deleted in one transaction")
	fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", cfg.ShutdownGrace, "longest wait for in-flight writes on shutdown")
	fs.StringVar(&lo.level, "log-level", lo.level, "debug, info, warn or error")
	fs.StringVar(&lo.format, "log-format", lo.format, "text or json")
	return fs
}
