package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// maxMuxMessage is the largest yamux message this host sends: four 64 KiB
// bandwidth DATA frames, which the provider writes to the stream at once
// (go-yamux's default, 64 KiB, split them into four messages, each a
// handoff to yamux's send loop and a write to the socket). A receiver
// bounds a message by its stream window (256 KiB at first, up to 16 MiB),
// not by this size, so peers of either build interoperate.
const maxMuxMessage = 256 << 10

// muxer is go-libp2p's yamux configuration with maxMuxMessage.
func muxer() *yamux.Transport {
	cfg := *yamux.DefaultTransport
	cfg.MaxMessageSize = maxMuxMessage
	return &cfg
}

// Security selects the libp2p security transport for TCP connections
// (QUIC always uses its built-in TLS 1.3).
type Security int

// Security transports. TLS is the default: on loopback TLS+yamux moves
// about 1 GB/s against about 0.55 GB/s for Noise (see docs/benchmarks.md).
const (
	SecurityTLS Security = iota
	SecurityNoise
)

// String returns the security transport's name.
func (s Security) String() string {
	if s == SecurityNoise {
		return "noise"
	}
	return "tls"
}

// DefaultListenAddrs are the addresses a Host listens on unless told
// otherwise: TCP and QUIC on all IPv4 interfaces, on a port the OS picks.
var DefaultListenAddrs = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}

// LoopbackListenAddrs listen on 127.0.0.1 only (TCP and QUIC, OS-picked
// ports). Tests and benchmarks use them.
var LoopbackListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// Defaults for the timeouts of Config.
const (
	DefaultStreamTimeout = 30 * time.Second
	DefaultIdleTimeout   = 2 * time.Minute
	DefaultPayTimeout    = 30 * time.Second
	DefaultMDNSService   = "sovmesh"
)

// Config configures a Host. Start from DefaultConfig and change fields with
// options passed to New.
type Config struct {
	// NostrSecret is the node's Nostr secret key in hex; empty generates a
	// fresh identity (for tests).
	NostrSecret string
	// ListenAddrs are libp2p multiaddrs to listen on.
	ListenAddrs []string
	// Security is the security transport for TCP.
	Security Security
	// StreamTimeout bounds every frame read or write on storage and
	// inference streams; a stalled peer fails within it.
	StreamTimeout time.Duration
	// IdleTimeout bounds how long a bandwidth stream may sit without traffic
	// either way (a download during which the buyer sends nothing is not
	// idle).
	IdleTimeout time.Duration
	// PayTimeout bounds how long a provider waits at a pause point for the
	// next payment step.
	PayTimeout time.Duration
	// DialTimeout bounds a dial to a peer, on any of its addresses, when
	// set: a peer that is gone without refusing (a dead host, a QUIC port
	// that swallows packets) fails within it. Zero keeps libp2p's, 5 s
	// for a private or loopback address and 15 s for others. Get, Audit
	// and Repair dial a file's providers concurrently and never wait on
	// one still dialling while the others serve (see reach).
	DialTimeout time.Duration
	// MDNS enables LAN discovery under MDNSService; found peers are added
	// to the peerstore, connected, and passed to OnPeerFound if set.
	MDNS        bool
	MDNSService string
	OnPeerFound func(peer.AddrInfo)
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the documented defaults: listen on
// DefaultListenAddrs, TLS, 30 s stream timeout, 2 min idle timeout, 30 s pay
// timeout, no mDNS. Peers whose key is not a Nostr key are always refused.
func DefaultConfig() Config {
	return Config{
		ListenAddrs:   DefaultListenAddrs,
		Security:      SecurityTLS,
		StreamTimeout: DefaultStreamTimeout,
		IdleTimeout:   DefaultIdleTimeout,
		PayTimeout:    DefaultPayTimeout,
		MDNSService:   DefaultMDNSService,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if len(c.ListenAddrs) == 0 {
		return errors.New("transport: config: no listen addresses")
	}
	for _, a := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(a); err != nil {
			return fmt.Errorf("transport: config: listen address %q: %w", a, err)
		}
	}
	if c.Security != SecurityTLS && c.Security != SecurityNoise {
		return fmt.Errorf("transport: config: unknown security %d", c.Security)
	}
	if c.StreamTimeout <= 0 || c.IdleTimeout <= 0 || c.PayTimeout <= 0 {
		return errors.New("transport: config: timeouts must be positive")
	}
	if c.DialTimeout < 0 {
		return fmt.Errorf("transport: config: DialTimeout %v is negative (0: libp2p's)", c.DialTimeout)
	}
	if c.MDNS && c.MDNSService == "" {
		return errors.New("transport: config: mdns needs a service name")
	}
	return nil
}

// Option changes a Config.
type Option func(*Config)

// WithNostrSecret sets the node's identity from a Nostr secret key (hex).
func WithNostrSecret(secretHex string) Option { return func(c *Config) { c.NostrSecret = secretHex } }

// WithListenAddrs sets the listen multiaddrs.
func WithListenAddrs(addrs ...string) Option { return func(c *Config) { c.ListenAddrs = addrs } }

// WithSecurity selects the TCP security transport.
func WithSecurity(s Security) Option { return func(c *Config) { c.Security = s } }

// WithTimeouts sets the stream, idle and pay timeouts; zero keeps a value.
func WithTimeouts(stream, idle, pay time.Duration) Option {
	return func(c *Config) {
		if stream > 0 {
			c.StreamTimeout = stream
		}
		if idle > 0 {
			c.IdleTimeout = idle
		}
		if pay > 0 {
			c.PayTimeout = pay
		}
	}
}

// WithDialTimeout sets Config.DialTimeout (zero: libp2p's).
func WithDialTimeout(d time.Duration) Option { return func(c *Config) { c.DialTimeout = d } }

// WithMDNS enables mDNS discovery under service ("" = DefaultMDNSService).
func WithMDNS(service string, onFound func(peer.AddrInfo)) Option {
	return func(c *Config) {
		c.MDNS = true
		if service != "" {
			c.MDNSService = service
		}
		c.OnPeerFound = onFound
	}
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *Config) { c.Logger = l } }

// Host is a libp2p host whose identity is a Nostr key, with the sovmesh
// protocols. Create it with New and release it with Close.
type Host struct {
	h      host.Host
	cfg    Config
	log    *slog.Logger
	priv   crypto.PrivKey
	pubkey [32]byte

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// goMu orders the goroutines started from libp2p's callbacks (mDNS)
	// with Close: none is started once closing is set, so Close's
	// wg.Wait never races a wg.Add.
	goMu    sync.Mutex
	closing bool
	mdns    io.Closer

	sessMu   sync.Mutex
	sessions map[poolKey]*sessionPool

	accMu    sync.Mutex
	accounts map[poolKey]*storageAccount // storage credit per buyer and market session (provider side)
}

// New starts a Host. ctx bounds only the start-up; Close stops the host.
func New(ctx context.Context, opts ...Option) (*Host, error) {
	cfg := DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	secret := cfg.NostrSecret
	if secret == "" {
		s, err := GenerateNostrSecret()
		if err != nil {
			return nil, err
		}
		secret = s
	}
	cfg.NostrSecret = secret // the receipt exchange countersigns with it
	priv, err := IdentityFromNostrSecret(secret)
	if err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	pub, err := nostrKeyBytes(id)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var sec libp2p.Option
	if cfg.Security == SecurityNoise {
		sec = libp2p.Security(noise.ID, noise.New)
	} else {
		sec = libp2p.Security(libp2ptls.ID, newTLSOneWrite)
	}
	swarmOpts := []swarm.Option{swarm.WithDialRanker(tcpFirst)}
	if cfg.DialTimeout > 0 {
		swarmOpts = append(swarmOpts, swarm.WithDialTimeout(cfg.DialTimeout), swarm.WithDialTimeoutLocal(cfg.DialTimeout))
	}
	h, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		sec,
		libp2p.Muxer(yamux.ID, muxer()),
		libp2p.ConnectionGater(&gater{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.SwarmOpts(swarmOpts...),
	)
	if err != nil {
		return nil, fmt.Errorf("transport: start host: %w", err)
	}
	hctx, cancel := context.WithCancel(context.Background())
	t := &Host{
		h: h, cfg: cfg, log: logger, priv: priv, pubkey: pub,
		ctx: hctx, cancel: cancel, sessions: map[poolKey]*sessionPool{}, accounts: map[poolKey]*storageAccount{},
	}
	if cfg.MDNS {
		svc := mdns.NewMdnsService(h, cfg.MDNSService, &mdnsNotifee{t: t})
		if err := svc.Start(); err != nil {
			_ = t.Close()
			return nil, fmt.Errorf("transport: start mdns: %w", err)
		}
		t.mdns = svc
	}
	return t, nil
}

// Close stops discovery, closes all streams and connections, and stops the
// host. It waits for the goroutines the Host owns.
func (t *Host) Close() error {
	t.goMu.Lock()
	t.closing = true
	t.goMu.Unlock()
	t.cancel()
	if t.mdns != nil {
		_ = t.mdns.Close()
	}
	t.sessMu.Lock()
	pools := t.sessions
	t.sessions = map[poolKey]*sessionPool{}
	t.sessMu.Unlock()
	for _, p := range pools {
		p.close()
	}
	err := t.h.Close()
	t.wg.Wait()
	return err
}

// ID returns the host's peer ID.
func (t *Host) ID() peer.ID { return t.h.ID() }

// NostrPubkey returns the host's Nostr public key (x-only hex).
func (t *Host) NostrPubkey() string {
	s, _ := NostrPubkeyFromPeerID(t.h.ID())
	return s
}

// Addrs returns the host's listen addresses.
func (t *Host) Addrs() []ma.Multiaddr { return t.h.Addrs() }

// AddrInfo returns the host's peer ID and addresses.
func (t *Host) AddrInfo() peer.AddrInfo { return peer.AddrInfo{ID: t.h.ID(), Addrs: t.h.Addrs()} }

// LibP2P returns the underlying libp2p host, for callers that need it.
func (t *Host) LibP2P() host.Host { return t.h }

// ListenAddrs returns the addresses the host listens on.
func (t *Host) ListenAddrs() []ma.Multiaddr { return t.h.Network().ListenAddresses() }

// AddAddrs remembers addrs as p's for ttl: streams to p dial them.
func (t *Host) AddAddrs(p peer.ID, addrs []ma.Multiaddr, ttl time.Duration) {
	t.h.Peerstore().AddAddrs(p, addrs, ttl)
}

// Latency returns the smoothed round trip to p the host measured, 0 if none.
func (t *Host) Latency(p peer.ID) time.Duration { return t.h.Peerstore().LatencyEWMA(p) }

// Connect connects to the provider whose Nostr public key is pubHex at
// addrs (none: the addresses the host knows for it); it returns at once
// when a connection is open already, and never closes one. The security handshake fails unless the remote proves that key, so
// a host answering with any other identity is refused.
func (t *Host) Connect(ctx context.Context, pubHex string, addrs []ma.Multiaddr) (peer.ID, error) {
	id, err := PeerIDFromNostrPubkey(pubHex)
	if err != nil {
		return "", err
	}
	if err := t.h.Connect(ctx, peer.AddrInfo{ID: id, Addrs: addrs}); err != nil {
		return "", fmt.Errorf("transport: connect %s: %w", id, err)
	}
	return id, nil
}

// newStream opens a stream to p for proto, with the host's stream timeout
// bounding the open.
func (t *Host) newStream(ctx context.Context, p peer.ID, proto protocol.ID) (network.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.StreamTimeout)
	defer cancel()
	s, err := t.h.NewStream(ctx, p, proto)
	if err != nil {
		return nil, fmt.Errorf("transport: open %s to %s: %w", proto, p, err)
	}
	return s, nil
}

// gater refuses peers whose key is not a Nostr key.
type gater struct{}

func (g *gater) InterceptPeerDial(peer.ID) bool               { return true }
func (g *gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool  { return true }
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}

func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	_, err := nostrKeyBytes(p)
	return err == nil
}

type mdnsNotifee struct{ t *Host }

func (n *mdnsNotifee) HandlePeerFound(pi peer.AddrInfo) {
	t := n.t
	if pi.ID == t.h.ID() {
		return
	}
	if _, err := nostrKeyBytes(pi.ID); err != nil {
		return
	}
	t.goMu.Lock()
	defer t.goMu.Unlock()
	if t.closing {
		return // found after Close began: nobody would wait for it
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		ctx, cancel := context.WithTimeout(t.ctx, t.cfg.StreamTimeout)
		defer cancel()
		if err := t.h.Connect(ctx, pi); err != nil {
			t.log.Debug("mdns peer connect failed", "peer", pi.ID, "err", err)
			return
		}
		t.log.Debug("mdns peer found", "peer", pi.ID)
		if t.cfg.OnPeerFound != nil {
			t.cfg.OnPeerFound(pi)
		}
	}()
}

// tcpFirst is the hosts' dial ranker: TCP addresses first, in libp2p's
// default order, then the others (QUIC) 250 ms after the last TCP dial.
// libp2p's default prefers QUIC, which here moves a bulk stream at under
// half the rate of TCP+TLS+yamux for over twice the CPU per byte
// (transportbench -layers, docs/benchmarks.md); storage and bandwidth are
// bulk. QUIC stays the fallback for a peer TCP does not reach.
func tcpFirst(addrs []ma.Multiaddr) []network.AddrDelay {
	var tcpAddrs, rest []ma.Multiaddr
	for _, a := range addrs {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			tcpAddrs = append(tcpAddrs, a)
		} else {
			rest = append(rest, a)
		}
	}
	if len(tcpAddrs) == 0 {
		return swarm.DefaultDialRanker(rest)
	}
	out := swarm.DefaultDialRanker(tcpAddrs)
	var last time.Duration
	for _, d := range out {
		last = max(last, d.Delay)
	}
	for _, d := range swarm.DefaultDialRanker(rest) {
		d.Delay += last + swarm.PublicTCPDelay
		out = append(out, d)
	}
	return out
}
