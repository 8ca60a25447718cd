package agentd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/agentd/keystore"
	"github.com/sovmesh/sovmesh/agentd/lan"
	"github.com/sovmesh/sovmesh/agentd/relays"
	"github.com/sovmesh/sovmesh/agentd/safebox"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/internal/datadir"
	"github.com/sovmesh/sovmesh/market/pay/budget"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/transport"
)

// Config is what a Node needs. Start from DefaultConfig.
type Config struct {
	// DataDir holds the key, the state and payment databases and the
	// provider's chunk store.
	DataDir string
	// Relays are the Nostr relays (ws:// or wss://).
	Relays []string
	// Mints is the Cashu mint allow-list; the first is the default. Empty:
	// the mints the first relay lists in its NIP-11 document.
	Mints []string
	// ListenAddrs are the libp2p listen multiaddrs.
	ListenAddrs []string
	// Passphrase opens the key (from SOVMESH_PASSPHRASE; never a flag).
	Passphrase string
	// Prompt asks for the passphrase when none is set (nil: no prompt).
	Prompt func() (string, error)
	// KeyLogN is the scrypt cost for a new key file (0: NIP-49 default 16).
	KeyLogN uint8
	// BudgetPerDay and BudgetPerCounterparty cap outgoing payments, in
	// sats per UTC day (0: no cap).
	BudgetPerDay          uint64
	BudgetPerCounterparty uint64
	// BudgetOwners, when set, are the pubkeys whose signed spending
	// authorizations (market/pay/budget, kind BudgetKind) the agent needs
	// besides its local caps: no authorization in force, no payment.
	BudgetOwners []string
	// BudgetKind is the kind of those authorizations (0: DefaultBudgetKind).
	BudgetKind int
	// OfflineLimit is the most sats per mint a provider accepts while that
	// mint cannot be reached: tokens of allow-listed mints checked on their
	// DLEQ proofs (NUT-12) and swapped once the mint is back. A token spent
	// elsewhere meanwhile is lost, so this bounds the loss. 0: a payment
	// whose mint cannot be reached is refused.
	OfflineLimit uint64
	// RelayTopUp is the prepaid fee balance, in sats, bought at once from a
	// fee-charging relay that takes top-ups (nips/topup.md) when an event
	// needs its fee: later events are charged from it. 0: every event pays
	// its own fee in a token of its own.
	RelayTopUp uint64
	// NIP60 mirrors the wallet to the relays as NIP-60 events (MirrorWallet).
	NIP60 bool
	// ReclaimGrace: a market payment still unredeemed this long after it
	// was sent is taken back (ReclaimStale). 0: DefaultReclaimGrace.
	ReclaimGrace time.Duration
	// RefundLock is how long a provider's refund of a closed session's
	// unused credit is P2PK-locked to the buyer (NUT-11): only the buyer
	// can redeem it until then, after it the provider takes back one still
	// unredeemed (nips/change.md). 0: DefaultRefundLock.
	RefundLock time.Duration
	// ReadOnly skips the wallet's Resume and the data directory's lock, for
	// commands that only read while a daemon owns the wallet (status,
	// earnings, balance). Every other Open takes the lock: a second one on
	// the same directory fails naming the holder.
	ReadOnly bool
	// Command names this process in the lock file (default "agentd").
	Command string
	// StepHook, if set, is the wallet's crash-test hook
	// (cashu.Config.StepHook): agentd sets it from SOVMESH_CRASH_AT
	// (internal/crashat).
	StepHook func(step string) error
	// MDNS finds peers on the LAN (multicast DNS, service MDNSService,
	// default transport.DefaultMDNSService) and trades with them with no
	// relay (agentd/lan).
	MDNS        bool
	MDNSService string
	// StreamTimeout, PayTimeout: transport timeouts (0: defaults).
	StreamTimeout, PayTimeout time.Duration
	// DialTimeout bounds a dial to a peer (transport.Config.DialTimeout;
	// 0: libp2p's, 5 s on a private address, 15 s on others).
	DialTimeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock of the created_at of the offers the node publishes
	// (tests); nil: time.Now.
	Now func() time.Time
}

// DefaultRelayTopUp is Config.RelayTopUp's default, in sats.
const DefaultRelayTopUp = 50

// DefaultConfig returns the defaults: data in ./sovmesh-agent, the local
// relay ws://127.0.0.1:7447, no mint (set one), libp2p on all interfaces,
// a budget of 10,000 sats per day and 2,000 per counterparty, mDNS on.
func DefaultConfig() Config {
	return Config{
		MDNS:                  true,
		DataDir:               "sovmesh-agent",
		Relays:                []string{"ws://127.0.0.1:7447"},
		ListenAddrs:           append([]string(nil), transport.DefaultListenAddrs...),
		BudgetPerDay:          10_000,
		BudgetPerCounterparty: 2_000,
		RelayTopUp:            DefaultRelayTopUp,
	}
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("agentd: data dir is empty")
	}
	if len(c.Relays) == 0 {
		return errors.New("agentd: no relay configured")
	}
	for _, r := range c.Relays {
		if !strings.HasPrefix(r, "ws://") && !strings.HasPrefix(r, "wss://") {
			return fmt.Errorf("agentd: relay %q: want ws:// or wss://", r)
		}
	}
	for i, m := range c.Mints {
		n, err := cashu.NormalizeMintURL(m)
		if err != nil {
			return fmt.Errorf("agentd: mint %q: %w", m, err)
		}
		c.Mints[i] = n
	}
	return nil
}

// closeMirrorWait bounds Close's last NIP-60 mirror pass.
const closeMirrorWait = 10 * time.Second

// Node is what the buyer and provider roles share.
type Node struct {
	Config  Config
	Key     keystore.Key
	Log     *slog.Logger
	Relays  *relays.Pool
	journal *journal.Journal // the payment journal (the wallet's: Wallet.Journal)
	Wallet  *cashu.Wallet
	DB      *state.DB
	box     *safebox.Box
	budget  *state.Budget
	// Host is the libp2p host, nil until StartHost.
	Host *transport.Host
	// lan is the market on the LAN (Config.MDNS), nil without mDNS.
	lan  *lan.Exchange
	lock *datadir.Lock // nil when ReadOnly
	// Created reports that Open generated a new key (first start).
	Created bool
	guard   *budget.Guard
	// mintRelaysDown are the relays whose NIP-11 mints could not be read
	// (no --mint set).
	mintRelaysDown []string
	// mirrorMu serializes NIP-60 mirror passes.
	mirrorMu sync.Mutex
}

// Box is the node's SafeBox (its files' keys, on the relays).
func (n *Node) Box() *safebox.Box { return n.box }

// Budget is the node's local spending limits (Config.BudgetPerDay and
// BudgetPerCounterparty) and what it spent against them.
func (n *Node) Budget() *state.Budget { return n.budget }

// Open opens (creating on first start) the key, databases and wallet in
// cfg.DataDir. It does not start the libp2p host.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := datadir.Private(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("agentd: %w", err)
	}
	var lock *datadir.Lock
	if !cfg.ReadOnly {
		cmd := cfg.Command
		if cmd == "" {
			cmd = "agentd"
		}
		var err error
		if lock, err = datadir.Acquire(cfg.DataDir, cmd); err != nil {
			return nil, fmt.Errorf("agentd: %w", err)
		}
	}
	key, created, err := keystore.Open(filepath.Join(cfg.DataDir, "keys"), keystore.Options{Passphrase: cfg.Passphrase, Prompt: cfg.Prompt, LogN: cfg.KeyLogN})
	if err != nil {
		_ = lock.Release()
		return nil, err
	}
	if cfg.ReclaimGrace <= 0 {
		cfg.ReclaimGrace = DefaultReclaimGrace
	}
	if cfg.RefundLock <= 0 {
		cfg.RefundLock = DefaultRefundLock
	}
	n := &Node{Config: cfg, Key: key, Log: log.With("pubkey", key.Pubkey[:12]), Created: created, lock: lock}
	ok := false
	defer func() {
		if !ok {
			_ = n.Close()
		}
	}()
	if n.Relays, err = relays.New(cfg.Relays, n.Log); err != nil {
		return nil, err
	}
	if cfg.MDNS {
		n.lan = lan.New(key.Pubkey, n.Log)
		n.Relays.SetLocal(n.lan)
	}
	if n.journal, err = journal.Open(ctx, filepath.Join(cfg.DataDir, "pay.db")); err != nil {
		return nil, fmt.Errorf("agentd: payment journal: %w", err)
	}
	// The ledger and budget are in the journal's file: each line is
	// written in the transaction of the wallet op it records.
	if n.DB, err = state.Open(ctx, filepath.Join(cfg.DataDir, "agentd.db"), n.journal.DB()); err != nil {
		return nil, err
	}
	n.budget = &state.Budget{DB: n.DB, PerDay: cfg.BudgetPerDay, PerCounterparty: cfg.BudgetPerCounterparty}
	if len(cfg.Mints) == 0 {
		// Zero-touch: use the mints the relays name in NIP-11.
		var unreachable []string
		cfg.Mints, unreachable = relayMints(ctx, cfg.Relays, n.Log)
		if len(unreachable) > 0 {
			// Offline: the mints this wallet already used keep working.
			known, err := cashu.KnownMints(ctx, n.journal)
			if err != nil {
				return nil, fmt.Errorf("agentd: %w", err)
			}
			for _, m := range known {
				if !slices.Contains(cfg.Mints, m) {
					cfg.Mints = append(cfg.Mints, m)
				}
			}
			n.mintRelaysDown = unreachable
		}
		if len(cfg.Mints) > 0 {
			n.Log.Info("using the relays' mints", "mints", cfg.Mints)
			n.Config.Mints = cfg.Mints
		}
	}
	wc := cashu.DefaultConfig()
	wc.Mints = cfg.Mints
	wc.PrivateKey = key.Secret
	wc.OfflineLimit = cfg.OfflineLimit
	if n.Config.BudgetKind == 0 {
		n.Config.BudgetKind = DefaultBudgetKind
	}
	wc.Budget = n.budgetFor()
	wc.Logger = n.Log
	wc.StepHook = cfg.StepHook
	if len(wc.Mints) > 0 {
		if n.Wallet, err = cashu.Open(ctx, n.journal, wc); err != nil {
			return nil, fmt.Errorf("agentd: wallet: %w", err)
		}
		if cfg.ReadOnly {
			// A running daemon may own open payment ops: leave them to it.
		} else if rep, err := n.Wallet.Resume(ctx); err != nil {
			n.Log.Warn("wallet resume incomplete", "err", err)
		} else if rep.Completed+rep.Failed+rep.Pending > 0 {
			n.Log.Info("wallet resumed", "completed", rep.Completed, "failed", rep.Failed, "pending", rep.Pending)
		}
		if !cfg.ReadOnly {
			// A payment a previous run sent and the payee never got comes back.
			_, _ = n.ReclaimStale(ctx)
		}
	}
	if n.box, err = safebox.New(key.Secret, outboxPublisher{n}); err != nil {
		return nil, err
	}
	n.box.SetLocal(n.DB)
	if n.guard != nil {
		k, err := n.LoadAuthorizations(ctx)
		if err != nil {
			n.Log.Warn("spending authorizations not loaded", "err", err)
		} else {
			n.Log.Info("spending authorizations loaded", "in_force", k)
		}
	}
	ok = true
	return n, nil
}

// ErrNoWallet means no mint is configured.
var ErrNoWallet = errors.New("agentd: no mint configured (set --mint)")

// NeedWallet returns the wallet or ErrNoWallet.
func (n *Node) NeedWallet() (*cashu.Wallet, error) {
	if n.Wallet == nil && len(n.mintRelaysDown) > 0 {
		return nil, fmt.Errorf("%w; the relays naming their mints could not be reached: %s", ErrNoWallet, strings.Join(n.mintRelaysDown, ", "))
	}
	if n.Wallet == nil {
		return nil, ErrNoWallet
	}
	return n.Wallet, nil
}

// StartHost starts the libp2p host with the node's key.
func (n *Node) StartHost(ctx context.Context) error {
	if n.Host != nil {
		return nil
	}
	opts := []transport.Option{
		transport.WithNostrSecret(n.Key.Secret),
		transport.WithListenAddrs(n.Config.ListenAddrs...),
		transport.WithTimeouts(n.Config.StreamTimeout, 0, n.Config.PayTimeout),
		transport.WithDialTimeout(n.Config.DialTimeout),
		transport.WithLogger(n.Log),
	}
	if n.lan != nil {
		ex := n.lan
		opts = append(opts, transport.WithMDNS(n.Config.MDNSService, func(pi peer.AddrInfo) {
			n.Log.Info("lan peer found", "peer", pi.ID)
			ex.PeerFound()
		}))
	}
	h, err := transport.New(ctx, opts...)
	if err != nil {
		return fmt.Errorf("agentd: transport: %w", err)
	}
	n.Host = h
	if n.lan != nil {
		h.ServeLAN(n.lan)
		n.lan.Attach(h)
	}
	n.Log.Info("libp2p host started", "listen", fmt.Sprint(h.ListenAddrs()))
	return nil
}

// Now returns the node's clock's time (Config.Now).
func (n *Node) Now() time.Time {
	if n.Config.Now != nil {
		return n.Config.Now()
	}
	return time.Now()
}

// Sign signs ev with the node's key.
func (n *Node) Sign(ev *nostr.Event) error { return ev.Sign(n.Key.Secret) }

// Publish signs ev and publishes it to the relays. When every relay
// refuses it with "payment-required", each is paid (payAndPublish: from a
// prepaid balance topped up, or a token in the event), recorded in the
// ledger.
func (n *Node) Publish(ctx context.Context, ev nostr.Event) (nostr.Event, error) {
	if err := n.Sign(&ev); err != nil {
		return ev, fmt.Errorf("agentd: sign: %w", err)
	}
	err := n.PublishSigned(ctx, ev)
	if err == nil || !strings.Contains(err.Error(), "payment-required") {
		return ev, err
	}
	var errs []error
	var paid nostr.Event
	ok := false
	for _, u := range n.Relays.URLs() {
		p, perr := n.payAndPublish(ctx, u, ev)
		if perr != nil {
			errs = append(errs, perr)
			continue
		}
		paid, ok = p, true
	}
	if !ok {
		return ev, errors.Join(append([]error{err}, errs...)...)
	}
	return paid, nil
}

// Close mirrors the wallet a last time (Config.NIP60, within
// closeMirrorWait), stops the host and closes the databases.
func (n *Node) Close() error {
	var errs []error
	if n.DB != nil && n.Relays != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeMirrorWait)
		if err := n.MirrorWallet(ctx); err != nil {
			n.Log.Warn("wallet not mirrored to NIP-60 events; the next run does it", "err", err)
		}
		cancel()
	}
	if n.Host != nil {
		errs = append(errs, n.Host.Close())
	}
	if n.Relays != nil {
		errs = append(errs, n.Relays.Close())
	}
	if n.DB != nil {
		errs = append(errs, n.DB.Close())
	}
	if n.journal != nil {
		errs = append(errs, n.journal.Close())
	}
	errs = append(errs, n.lock.Release())
	return errors.Join(errs...)
}
