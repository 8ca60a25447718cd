// Package cashu is the Cashu ecash wallet of a sovmesh agent or relay: proofs
// persisted in the payment journal (SQLite), exact-amount sends, receives that
// swap at the mint (so a spent or replayed token is refused), P2PK escrow with
// a locktime refund (NUT-11), offline acceptance on DLEQ proofs (NUT-12) with
// bounded exposure, payment requests (NUT-18, format in market/pay/creq),
// Lightning in and out (NUT-04, NUT-05), and a mint allow-list.
//
// Every step that moves money is journaled before it is acted on; Resume
// finishes or refunds every open operation after a crash, using NUT-09
// restore and NUT-07 state checks to learn what the mint already did.
// Output secrets derive from the wallet key (NUT-13, nut13.go), so Restore
// finds the wallet's ecash at its mints again from the key alone.
//
// The protocol types and the blind-signature math are gonuts'
// (github.com/elnosh/gonuts/cashu, .../crypto); the wallet logic is ours.
package cashu

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"

	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// Errors. Each is wrapped with context; compare with errors.Is.
var (
	ErrMalformedToken  = errors.New("malformed cashu token")
	ErrUnknownMint     = errors.New("mint not in the allow-list")
	ErrTokenSpent      = errors.New("token already spent")
	ErrReplayed        = errors.New("token already received by this wallet")
	ErrWrongAmount     = errors.New("wrong amount")
	ErrWrongUnit       = errors.New("unsupported unit (only sat)")
	ErrInsufficient    = errors.New("insufficient balance")
	ErrMintUnreachable = errors.New("mint unreachable")
	ErrLockedToOther   = errors.New("token is locked to another key")
	ErrStillLocked     = errors.New("escrow still locked")
	ErrNoDLEQ          = errors.New("token has no DLEQ proof, cannot accept offline")
	ErrBadDLEQ         = errors.New("DLEQ proof does not verify")
	ErrOfflineLimit    = errors.New("offline acceptance limit reached")
	ErrPending         = errors.New("payment outcome pending; it will be resumed")
	ErrQuoteUnpaid     = errors.New("mint quote not paid")
	ErrPaymentFailed   = errors.New("lightning payment failed")
	ErrBadPreimage     = errors.New("preimage does not match the payment hash")
	ErrNotReclaimable  = errors.New("operation cannot be reclaimed")
	ErrNotLocked       = errors.New("token is not locked to this wallet's key")
	ErrUnsupportedLock = errors.New("unsupported locking condition")
	ErrSendCancelled   = errors.New("send cancelled at restart: the mint never swapped it, so no token existed")
	// ErrCrashed is returned when a test step hook stops an operation midway,
	// as a crash would: nothing after the hook runs.
	ErrCrashed = errors.New("stopped by step hook")
	// ErrOverBudget is what every Budget's refusal wraps, whichever budget
	// it is (an owner's signed authorization, the agent's local limits), so
	// callers such as the NWC service tell it apart from a failed payment.
	ErrOverBudget = errors.New("payment over the spending budget")
)

// Budget is asked before every outgoing payment; budget.Guard implements it.
type Budget interface {
	// Reserve reserves sats for counterparty or refuses with an error
	// (wrapping ErrOverBudget when the payment is over the budget).
	// The returned commit is called with true once paid, false to release.
	Reserve(ctx context.Context, counterparty string, sats uint64) (commit func(ctx context.Context, paid bool) error, err error)
}

// Config configures a Wallet. Start from DefaultConfig.
type Config struct {
	// Mints is the allow-list of mint URLs; the first is the default for sends
	// and Lightning deposits. Tokens from any other mint are refused.
	Mints []string
	// PrivateKey (32-byte hex, e.g. the agent's Nostr secret key) unlocks
	// tokens locked to us (NUT-11) and signs escrow refunds.
	PrivateKey string
	// OfflineLimit is the total of sats per mint accepted while that mint
	// cannot be reached (verified by DLEQ, swapped later). 0 disables it.
	OfflineLimit uint64
	// HTTPTimeout bounds each mint request. Default 15s.
	HTTPTimeout time.Duration
	// KeysetMaxAge: cached mint keys older than this are refreshed when
	// the mint is reachable. Default 1h.
	KeysetMaxAge time.Duration
	// LockMargin: a token locked to us whose refund locktime is closer than
	// this is refused, since the payer could take it back first. Default 30s.
	LockMargin time.Duration
	// Budget, when set, is asked before every outgoing payment.
	Budget Budget
	// Logger; default discard. Secrets are never logged.
	Logger *slog.Logger
	// StepHook, for crash tests: called with a step name after each journal
	// write; an error stops the operation there as a crash would.
	StepHook func(step string) error
}

// DefaultConfig returns a config with the defaults above and no mints.
func DefaultConfig() Config {
	return Config{HTTPTimeout: 15 * time.Second, KeysetMaxAge: time.Hour, LockMargin: 30 * time.Second}
}

// Validate checks the config and normalizes mint URLs.
func (c *Config) Validate() error {
	if len(c.Mints) == 0 {
		return errors.New("cashu: config: at least one mint is required")
	}
	for i, m := range c.Mints {
		n, err := NormalizeMintURL(m)
		if err != nil {
			return fmt.Errorf("cashu: config: mint %d: %w", i, err)
		}
		c.Mints[i] = n
	}
	if _, err := parseKey(c.PrivateKey); err != nil {
		return fmt.Errorf("cashu: config: private key: %w", err)
	}
	if c.HTTPTimeout <= 0 {
		c.HTTPTimeout = 15 * time.Second
	}
	if c.KeysetMaxAge <= 0 {
		c.KeysetMaxAge = time.Hour
	}
	return nil
}

// NormalizeMintURL returns the canonical form of a mint URL (scheme and host
// lowercased, no trailing slash), or an error for something that is not one.
func NormalizeMintURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("invalid mint URL %q", truncate(s, 80))
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimRight(u.Path, "/"), nil
}

func parseKey(h string) (*btcec.PrivateKey, error) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return nil, errors.New("must be 32 bytes of hex")
	}
	k, _ := btcec.PrivKeyFromBytes(b)
	return k, nil
}

// Wallet is a Cashu wallet on a payment journal. Safe for concurrent use.
type Wallet struct {
	cfg    Config
	j      *journal.Journal
	db     *sql.DB
	client mintClient
	key    *btcec.PrivateKey
	pub    string // x-only hex
	log    *slog.Logger

	mu sync.Mutex // serializes proof selection and op state changes
	// inFlight counts the ops of this process that reserved proofs
	// (journalWithInputs) and have not landed yet (w.mu).
	inFlight int
	// settleMu serializes the callers that finish ops they did not start
	// (Resume, SettleOffline), so no two of them work on one op at once.
	settleMu sync.Mutex
	// reclaimMu serializes reclaims (Reclaim, ReclaimStale).
	reclaimMu sync.Mutex
	chMu      sync.Mutex
	changed   chan struct{} // closed (and replaced) after every journal commit
	ksMu      sync.Mutex
	keysets   map[string]*keyset      // by id
	hd        *hdkeychain.ExtendedKey // NUT-13 master key (secret)
	hdMu      sync.Mutex
	hdPaths   map[string]*hdNode // keyset derivation nodes, by keyset id
}

// Open returns a wallet on j. Call Resume after Open to finish what a
// previous run left open.
func Open(ctx context.Context, j *journal.Journal, cfg Config) (*Wallet, error) {
	cfg.Mints = slices.Clone(cfg.Mints)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	key, _ := parseKey(cfg.PrivateKey)
	hd, err := hdMaster(key.Serialize())
	if err != nil {
		return nil, fmt.Errorf("cashu: wallet seed: %w", err)
	}
	w := &Wallet{
		hd:      hd,
		hdPaths: map[string]*hdNode{},
		cfg:     cfg,
		j:       j,
		db:      j.DB(),
		client:  mintClient{http: &http.Client{Timeout: cfg.HTTPTimeout}},
		key:     key,
		pub:     hex.EncodeToString(schnorr.SerializePubKey(key.PubKey())),
		log:     cfg.Logger,
		keysets: map[string]*keyset{},
		changed: make(chan struct{}),
	}
	if err := w.loadKeysets(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// PublicKey returns the wallet's x-only public key (hex), the key tokens are
// locked to for it.
func (w *Wallet) PublicKey() string { return w.pub }

// Mints returns the allow-list, default mint first.
func (w *Wallet) Mints() []string { return slices.Clone(w.cfg.Mints) }

// Journal returns the journal the wallet writes to.
func (w *Wallet) Journal() *journal.Journal { return w.j }

// Allowed reports whether mint (normalized) is in the allow-list.
func (w *Wallet) Allowed(mint string) bool {
	n, err := NormalizeMintURL(mint)
	return err == nil && slices.Contains(w.cfg.Mints, n)
}

// tx runs fn in a journal transaction and, once it committed, wakes the
// sends waiting for proofs to come back from operations in flight.
func (w *Wallet) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	err := w.j.Tx(ctx, fn)
	if err == nil {
		w.wake()
	}
	return err
}

// landed marks an op journaled by journalWithInputs as no longer in flight
// (its change, if any, is in or it failed) and wakes the waiting sends.
func (w *Wallet) landed() {
	w.mu.Lock()
	w.inFlight--
	w.mu.Unlock()
	w.wake()
}

// wake wakes the sends waiting for proofs to come back.
func (w *Wallet) wake() {
	w.chMu.Lock()
	close(w.changed)
	w.changed = make(chan struct{})
	w.chMu.Unlock()
}

// commits returns a channel closed at the next journal commit or landed op.
func (w *Wallet) commits() <-chan struct{} {
	w.chMu.Lock()
	defer w.chMu.Unlock()
	return w.changed
}

func (w *Wallet) step(name string) error {
	if w.cfg.StepHook == nil {
		return nil
	}
	if err := w.cfg.StepHook(name); err != nil {
		return fmt.Errorf("%w at %s: %v", ErrCrashed, name, err)
	}
	return nil
}

// Balance returns the sats of unspent proofs, over all mints.
func (w *Wallet) Balance(ctx context.Context) (uint64, error) {
	var total sql.NullInt64
	if err := w.db.QueryRowContext(ctx, `SELECT SUM(amount) FROM proofs WHERE state = 'unspent'`).Scan(&total); err != nil {
		return 0, fmt.Errorf("cashu: balance: %w", err)
	}
	return uint64(total.Int64), nil
}

// MintBalance returns the sats of unspent proofs of one mint.
func (w *Wallet) MintBalance(ctx context.Context, mint string) (uint64, error) {
	var total sql.NullInt64
	if err := w.db.QueryRowContext(ctx, `SELECT SUM(amount) FROM proofs WHERE state = 'unspent' AND mint = ?`, mint).Scan(&total); err != nil {
		return 0, fmt.Errorf("cashu: balance: %w", err)
	}
	return uint64(total.Int64), nil
}

// Proof is one unspent proof as a wallet mirror sees it (NUT-00 fields).
type Proof struct {
	Mint     string
	KeysetID string
	Amount   uint64
	Secret   string
	C        string
}

// UnspentProofs returns every unspent proof, by mint then amount: the
// wallet's balance, proof by proof (Balance sums the same rows).
func (w *Wallet) UnspentProofs(ctx context.Context) ([]Proof, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT mint, keyset_id, amount, secret, c FROM proofs WHERE state = 'unspent' ORDER BY mint, amount DESC, secret`)
	if err != nil {
		return nil, fmt.Errorf("cashu: list proofs: %w", err)
	}
	defer rows.Close()
	var out []Proof
	for rows.Next() {
		var p Proof
		var amount int64
		if err := rows.Scan(&p.Mint, &p.KeysetID, &amount, &p.Secret, &p.C); err != nil {
			return nil, fmt.Errorf("cashu: scan proof: %w", err)
		}
		p.Amount = uint64(amount)
		out = append(out, p)
	}
	return out, rows.Err()
}
