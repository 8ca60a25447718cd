package relay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/sovmesh/sovmesh/internal/selfurl"
	"github.com/sovmesh/sovmesh/relay/sqlitestore"
)

// AuthMode says which actions need a NIP-42 authenticated connection.
type AuthMode string

// The NIP-42 modes.
const (
	AuthNone   AuthMode = "none"   // nothing needs AUTH
	AuthWrites AuthMode = "writes" // publishing needs AUTH as the event's author
	AuthAll    AuthMode = "all"    // every REQ, COUNT and EVENT needs AUTH
)

// UnmarshalText accepts "none", "writes" or "all".
func (m *AuthMode) UnmarshalText(b []byte) error {
	switch v := AuthMode(b); v {
	case AuthNone, AuthWrites, AuthAll:
		*m = v
		return nil
	default:
		return fmt.Errorf("auth %q: want none, writes or all", string(b))
	}
}

// MarshalText returns the mode's name.
func (m AuthMode) MarshalText() ([]byte, error) { return []byte(m), nil }

// Config is everything a relay needs to start. Get one from DefaultConfig,
// change fields, and call Validate (New does).
type Config struct {
	// Listen is the TCP address the HTTP and websocket server binds.
	Listen string
	// DataDir holds the event database and the relay's key.
	DataDir string
	// Database, when set, is the postgres:// URL of a PostgreSQL database
	// that holds the events instead of DataDir/events.db (relay/pgstore).
	// It may hold a password: it is never logged or quoted in errors.
	Database string
	// ServiceURL is the relay's public websocket URL (ws:// or wss://), the
	// one URL the "relay" tag of a NIP-42 AUTH event may name. When empty,
	// AUTH is accepted only for URLs naming the address the relay listens on
	// (see Relay.ListenURLs), never for a name taken from the request.
	ServiceURL string
	// TrustedProxies are the networks of reverse proxies whose
	// X-Forwarded-For header is believed. A request from anywhere else is
	// counted against its direct peer's address. Empty: no proxy is trusted.
	TrustedProxies []netip.Prefix

	// NIP-11 information.
	Name        string
	Description string
	Contact     string

	// Auth says which actions need NIP-42 AUTH.
	Auth AuthMode

	// Limits, announced in NIP-11 and enforced.
	MaxMessageLength int           // bytes of one websocket message
	MaxSubscriptions int           // open REQs per connection
	MaxFilters       int           // filters in one REQ
	MaxLimit         int           // largest limit a filter may ask for; larger ones are capped
	DefaultLimit     int           // limit applied to a filter without one
	MaxSubIDLength   int           // characters of a subscription id
	MaxEventTags     int           // tags on one event
	MaxContentLength int           // bytes of an event's content
	MaxTagValueBytes int           // bytes of one tag value
	MaxPast          time.Duration // oldest created_at accepted, relative to now
	MaxFuture        time.Duration // newest created_at accepted, relative to now

	// Query cost bounds (not in NIP-11, which has no field for them).
	MaxCountEvents int           // most events a COUNT may match; a COUNT over more is refused
	CountTimeout   time.Duration // longest a COUNT may run; a slower one is refused
	NegMaxRecords  int           // most records a NEG-OPEN filter may select; a wider one is refused
	NegMaxSessions int           // negentropy sessions open at once per connection

	// The heavy-query lane (COUNT and NEG-OPEN, see heavy.go): at most
	// HeavyConcurrency run at once relay-wide (0: one less than GOMAXPROCS,
	// at least one) and HeavyQueue more wait; beyond, one is refused
	// rate-limited. Each client IP may use IPHeavyRate milliseconds of heavy
	// work per second (burst IPHeavyBurst; 0: no budget). Their answers are
	// kept HeavyCacheTTL per filter (0: not kept).
	HeavyConcurrency int
	HeavyQueue       int
	IPHeavyRate      float64
	IPHeavyBurst     int
	HeavyCacheTTL    time.Duration

	// Rate limits: sustained events per second and burst, per client IP and
	// per author pubkey; REQ/COUNT per second per IP; new connections per
	// minute per IP. Zero disables that limit.
	IPEventRate     float64
	IPEventBurst    int
	PubkeyEventRate float64
	PubkeyBurst     int
	IPReqRate       float64
	IPReqBurst      int
	IPNegRate       float64 // NEG-OPEN per second per IP
	IPNegBurst      int
	// IPReadRate and IPReadBurst budget the stored events each client IP
	// makes the relay read, per second: REQs (the stored part), COUNTs and
	// NEG-OPENs are charged the rows they read once they are done, and
	// refused while their IP's budget is spent.
	IPReadRate      float64
	IPReadBurst     int
	IPConnPerMinute int
	// IPConnBurst is how many new connections one client IP may open at
	// once, within IPConnPerMinute (0: the whole minute's IPConnPerMinute).
	IPConnBurst int
	// RateLimitedPause is the longest a client over a rate limit is made to
	// wait (pace.go): a message refused "rate-limited:" pauses its
	// connection until the limit would admit one more. 0: nothing waits.
	RateLimitedPause time.Duration

	// Connection limits. What waits to be sent to one client is bounded by
	// SendQueueMessages and SendQueueBytes, and each network write must
	// finish within WriteTimeout: a client that does not keep up is
	// disconnected (it never slows the publishers it subscribes to). A
	// client must send each message, from its first frame to its last,
	// within MessageTimeout.
	SendQueueMessages int
	SendQueueBytes    int
	WriteTimeout      time.Duration
	MessageTimeout    time.Duration
	// Connection caps: open websocket connections per client IP (an IPv6
	// client counts by its /64; 0: no cap) and in total (0: derived from the
	// open file limit, see DeriveMaxConnections). An upgrade over a cap is
	// refused with HTTP 429 (per IP) or 503 (total).
	IPMaxConnections int
	MaxConnections   int

	// Peers are relays (ws:// or wss:// URLs) kept in step with this one:
	// events of PeerKinds are exchanged live and reconciled with NIP-77 on
	// connect and every PeerInterval (see peering.go).
	Peers        []string
	PeerKinds    []int
	PeerInterval time.Duration

	// ShutdownGrace bounds how long Shutdown waits for in-flight writes.
	ShutdownGrace time.Duration

	// The event store's tuning (OpenStore). StoreBatch is the most writes
	// the SQLite store commits in one transaction, and StoreBatchWait how
	// long its writer waits for more once the queue is empty (0: commit
	// at once; concurrent writers still share a commit). StoreReaders is
	// the number of SQLite read connections (0: twice GOMAXPROCS, at
	// least 4). Both stores delete expired events (NIP-40) every
	// PurgeInterval (0: never; expired events are never served either
	// way), at most PurgeBatch per transaction.
	StoreBatch     int
	StoreBatchWait time.Duration
	StoreReaders   int
	PurgeInterval  time.Duration
	PurgeBatch     int

	// Clock is the relay's time: created_at and NIP-40 checks, rate limits,
	// the heavy-query budget and cache, and the store's expiry (nil:
	// time.Now; tests set it).
	Clock func() time.Time
}

// now returns the relay's clock.
func (c Config) now() func() time.Time {
	if c.Clock != nil {
		return c.Clock
	}
	return time.Now
}

// DefaultConfig returns the configuration meshrelay runs with when nothing is
// set: loopback only, data in ./sovmesh-data.
func DefaultConfig() Config {
	return Config{
		Listen:            "127.0.0.1:7447",
		DataDir:           "./sovmesh-data",
		Name:              "sovmesh relay",
		Description:       "A Nostr relay for the sovmesh market: bandwidth, storage and inference for ecash.",
		Auth:              AuthNone,
		MaxMessageLength:  256 * 1024,
		MaxSubscriptions:  32,
		MaxFilters:        10,
		MaxLimit:          5000,
		DefaultLimit:      500,
		MaxSubIDLength:    64,
		MaxEventTags:      2000,
		MaxContentLength:  128 * 1024,
		MaxTagValueBytes:  4096,
		MaxPast:           3 * 365 * 24 * time.Hour,
		MaxFuture:         15 * time.Minute,
		MaxCountEvents:    20000,
		CountTimeout:      2 * time.Second,
		NegMaxRecords:     50000,
		NegMaxSessions:    8,
		HeavyQueue:        8,
		IPHeavyRate:       5,
		IPHeavyBurst:      250,
		HeavyCacheTTL:     time.Second,
		IPEventRate:       200,
		IPEventBurst:      1000,
		PubkeyEventRate:   100,
		PubkeyBurst:       500,
		IPReqRate:         50,
		IPReqBurst:        200,
		IPNegRate:         1,
		IPNegBurst:        4,
		IPReadRate:        20000,
		IPReadBurst:       20000,
		IPConnPerMinute:   600,
		IPConnBurst:       16,
		RateLimitedPause:  time.Second,
		IPMaxConnections:  64,
		SendQueueMessages: 1024,
		SendQueueBytes:    4 << 20,
		WriteTimeout:      10 * time.Second,
		MessageTimeout:    20 * time.Second,
		ShutdownGrace:     10 * time.Second,
		PeerInterval:      5 * time.Minute,
		StoreBatch:        sqlitestore.DefaultBatchSize,
		StoreBatchWait:    sqlitestore.DefaultBatchWait,
		PurgeInterval:     sqlitestore.DefaultPurgeInterval,
		PurgeBatch:        sqlitestore.DefaultPurgeBatch,
	}
}

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("invalid relay configuration")

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen %q: %v", c.Listen, err)
	}
	if c.DataDir == "" {
		return bad("data directory is empty")
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		return bad("database: want a postgres:// URL (the value is not shown: it may hold a password)")
	}
	if c.ServiceURL != "" {
		u, err := url.Parse(c.ServiceURL)
		if _, cerr := selfurl.Canonical(c.ServiceURL); cerr != nil || err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return bad("service-url %q: want ws://host[:port] or wss://host", c.ServiceURL)
		}
	}
	switch c.Auth {
	case AuthNone, AuthWrites, AuthAll:
	default:
		return bad("auth %q: want none, writes or all", c.Auth)
	}
	positive := []struct {
		name string
		v    int
	}{
		{"max-message-length", c.MaxMessageLength},
		{"max-subscriptions", c.MaxSubscriptions},
		{"max-filters", c.MaxFilters},
		{"max-limit", c.MaxLimit},
		{"default-limit", c.DefaultLimit},
		{"max-subid-length", c.MaxSubIDLength},
		{"max-event-tags", c.MaxEventTags},
		{"max-content-length", c.MaxContentLength},
		{"max-tag-value-bytes", c.MaxTagValueBytes},
		{"max-count-events", c.MaxCountEvents},
		{"neg-max-records", c.NegMaxRecords},
		{"neg-max-sessions", c.NegMaxSessions},
	}
	for _, p := range positive {
		if p.v <= 0 {
			return bad("%s must be positive, got %d", p.name, p.v)
		}
	}
	if c.DefaultLimit > c.MaxLimit {
		return bad("default-limit %d is above max-limit %d", c.DefaultLimit, c.MaxLimit)
	}
	if c.MaxPast <= 0 || c.MaxFuture <= 0 {
		return bad("max-past and max-future must be positive")
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"ip-event-rate", c.IPEventRate}, {"pubkey-event-rate", c.PubkeyEventRate}, {"ip-req-rate", c.IPReqRate}, {"ip-neg-rate", c.IPNegRate}, {"ip-read-rate", c.IPReadRate}, {"ip-heavy-rate", c.IPHeavyRate}} {
		if r.v < 0 {
			return bad("%s must not be negative", r.name)
		}
	}
	if c.IPEventBurst < 0 || c.PubkeyBurst < 0 || c.IPReqBurst < 0 || c.IPNegBurst < 0 || c.IPReadBurst < 0 || c.IPHeavyBurst < 0 || c.IPConnPerMinute < 0 {
		return bad("bursts and connection rates must not be negative")
	}
	if c.RateLimitedPause < 0 {
		return bad("rate-limited-pause must not be negative, got %s", c.RateLimitedPause)
	}
	if c.IPConnBurst < 0 {
		return bad("ip-conn-burst must not be negative, got %d", c.IPConnBurst)
	}
	if c.SendQueueMessages < 2 {
		return bad("send-queue-messages must be at least 2, got %d", c.SendQueueMessages)
	}
	if c.SendQueueBytes < 2*c.MaxMessageLength {
		return bad("send-queue-bytes %d is below twice max-message-length (%d)", c.SendQueueBytes, 2*c.MaxMessageLength)
	}
	if c.WriteTimeout <= 0 || c.MessageTimeout <= 0 {
		return bad("write-timeout and message-timeout must be positive")
	}
	if c.CountTimeout <= 0 {
		return bad("count-timeout must be positive")
	}
	if c.HeavyConcurrency < 0 || c.HeavyQueue < 0 {
		return bad("heavy-concurrency and heavy-queue must not be negative")
	}
	if c.HeavyCacheTTL < 0 {
		return bad("heavy-cache-ttl must not be negative, got %v", c.HeavyCacheTTL)
	}
	if c.IPMaxConnections < 0 {
		return bad("ip-max-connections must not be negative, got %d", c.IPMaxConnections)
	}
	if c.MaxConnections < 0 {
		return bad("max-connections must not be negative, got %d", c.MaxConnections)
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return bad("trusted-proxies: invalid network %v", p)
		}
	}
	for _, p := range c.Peers {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return bad("peers: %q is not a ws:// or wss:// relay URL", p)
		}
	}
	if len(c.Peers) > 0 && len(c.PeerKinds) == 0 {
		return bad("peer-kinds: name the kinds to keep in step with the peers")
	}
	for _, k := range c.PeerKinds {
		if k < 0 || k > 65535 {
			return bad("peer-kinds: %d is not a kind (0-65535)", k)
		}
	}
	if c.PeerInterval <= 0 {
		return bad("peer-interval must be positive, got %v", c.PeerInterval)
	}
	if c.ShutdownGrace <= 0 {
		return bad("shutdown-grace must be positive")
	}
	if c.StoreBatch <= 0 {
		return bad("store-batch must be positive, got %d", c.StoreBatch)
	}
	if c.StoreBatchWait < 0 {
		return bad("store-batch-wait must not be negative, got %v", c.StoreBatchWait)
	}
	if c.StoreReaders < 0 {
		return bad("store-readers must not be negative, got %d", c.StoreReaders)
	}
	if c.PurgeInterval < 0 {
		return bad("purge-interval must not be negative, got %v", c.PurgeInterval)
	}
	if c.PurgeBatch <= 0 {
		return bad("purge-batch must be positive, got %d", c.PurgeBatch)
	}
	return nil
}
