// Package pgstore is the relay's event store on PostgreSQL (through
// github.com/jackc/pgx/v5): an eventstore.Store and eventstore.Counter with
// the semantics of relay/sqlitestore, so several relay processes can serve
// one set of events.
//
// Filters follow go-nostr's Filter.Matches exactly (ids, authors, kinds,
// single-letter "#x" tags, since, until; a non-nil empty list matches
// nothing; a nil list matches everything), plus limit, and results come in
// created_at DESC, id ASC order. Tags are kept in their own table, so
// "#t":["tag1"] never selects tag10; a filter on a longer tag name with
// values is refused with storeerr.ErrUnsupportedFilter. Search (NIP-50) is
// ignored. Events whose NIP-40 expiration has passed are never returned or
// counted, and a background purge deletes them.
//
// Every write is one transaction, committed (with the server's
// synchronous_commit, on by default) before the call returns. Replacing a
// replaceable or addressable event takes a transaction-scoped advisory lock
// on its address, so concurrent versions sent to different processes end
// with the same winner: the latest created_at, then the lowest id.
//
// The schema is created and upgraded by the embedded migrations of the
// "relaypg" set, under an advisory lock so processes starting together
// migrate once.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/fiatjaf/eventstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovmesh/sovmesh/migrations"
	"github.com/sovmesh/sovmesh/relay/eventsql"
	"github.com/sovmesh/sovmesh/relay/storeerr"
)

var (
	_ eventstore.Store   = (*Store)(nil)
	_ eventstore.Counter = (*Store)(nil)
)

// ErrDatabaseURL is returned by New for a database URL it cannot use. The
// URL itself is never quoted: it may hold a password.
var ErrDatabaseURL = errors.New("database URL")

// Defaults used by New when no option changes them.
const (
	DefaultPurgeInterval = time.Minute
	DefaultPurgeBatch    = 500
)

// Option changes how New opens the store.
type Option func(*config)

type config struct {
	log           *slog.Logger
	purgeInterval time.Duration
	purgeBatch    int
	now           func() time.Time
}

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithPurgeInterval sets how often expired events (NIP-40) are deleted
// (default DefaultPurgeInterval; 0 or less disables the purge). Expired events
// are never returned whether or not they have been purged.
func WithPurgeInterval(d time.Duration) Option { return func(c *config) { c.purgeInterval = d } }

// WithPurgeBatch sets how many expired events one purge transaction deletes
// (default DefaultPurgeBatch; less than 1 keeps the default).
func WithPurgeBatch(n int) Option { return func(c *config) { c.purgeBatch = n } }

// WithClock sets the clock used for NIP-40 expiration (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Store is the PostgreSQL event store. Its methods are safe for concurrent
// use, also by several processes on one database.
type Store struct {
	cfg    config
	log    *slog.Logger
	pool   *pgxpool.Pool
	health *pgxpool.Pool // Ping's own connection, never behind queries

	connConfig *pgx.ConnConfig // for ListenRemote's own connection
	instance   string          // names this Store's writes in notifications
	announced  chan []byte     // ids of committed events for notifyLoop

	mu     sync.RWMutex // guards closed against wg.Add
	closed bool
	ctx    context.Context // cancelled by Close; stops the purge and queries
	cancel context.CancelFunc
	wg     sync.WaitGroup // calls and query goroutines under way

	closeOnce sync.Once
}

// New connects to the database at url (postgres://user@host:port/db?...,
// with pgx's pool settings such as pool_max_conns), applies the "relaypg"
// migrations and starts the expiration purge.
func New(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg := config{
		log:           slog.Default(),
		purgeInterval: DefaultPurgeInterval,
		purgeBatch:    DefaultPurgeBatch,
		now:           time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.purgeBatch < 1 {
		cfg.purgeBatch = DefaultPurgeBatch
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message can quote the URL, password included.
		return nil, fmt.Errorf("%w: not a valid PostgreSQL URL or connection string (postgres://user@host:port/database)", ErrDatabaseURL)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default (the CPU count, at least 4) is low for a relay: a
		// REQ holds a connection while its events stream out.
		pcfg.MaxConns = int32(max(16, 4*runtime.NumCPU()))
	}
	hcfg := pcfg.Copy()
	hcfg.MaxConns, hcfg.MinConns = 1, 0
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	health, err := pgxpool.NewWithConfig(ctx, hcfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open event store: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		health.Close()
		return nil, fmt.Errorf("open event store: %w", err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &Store{cfg: cfg, log: cfg.log, pool: pool, health: health, ctx: sctx, cancel: cancel,
		connConfig: pcfg.ConnConfig, instance: newInstanceID(), announced: make(chan []byte, announceQueue)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.notifyLoop()
	}()
	if cfg.purgeInterval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.purgeLoop()
		}()
	}
	return s, nil
}

// migrate applies the relaypg migrations (migrations.ApplyPostgres).
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Release()
	return migrations.ApplyPostgres(ctx, conn.Conn(), "relaypg")
}

// Init does nothing: New has opened the store. It exists for eventstore.Store.
func (s *Store) Init() error { return nil }

// Close stops the purge, cancels running queries, waits for calls under way
// and closes the connections. Calls after Close return storeerr.ErrClosed.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		s.pool.Close()
		s.health.Close()
	})
}

func (s *Store) now() int64 { return s.cfg.now().Unix() }

// track registers a call or goroutine that Close waits for; it fails after
// Close.
func (s *Store) track() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return storeerr.ErrClosed
	}
	s.wg.Add(1)
	return nil
}

// Ping checks that the database answers, on a connection of its own, so a
// health check never waits behind queries holding every pooled connection.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.track(); err != nil {
		return err
	}
	defer s.wg.Done()
	var n int
	if err := s.health.QueryRow(ctx, `SELECT 1`).Scan(&n); err != nil {
		return fmt.Errorf("ping event store: %w", err)
	}
	return nil
}

// purgeLoop deletes expired events every purge interval until Close.
func (s *Store) purgeLoop() {
	eventsql.PurgeLoop(s.ctx, s.cfg.purgeInterval, s.log, s.PurgeExpired)
}

// PurgeExpired deletes every event whose NIP-40 expiration is at or before
// now, in transactions of at most the purge batch size, and returns how many
// it deleted. Several processes may purge at once.
func (s *Store) PurgeExpired(ctx context.Context) (int, error) {
	now := s.now()
	return eventsql.PurgeBatches(ctx, s.cfg.purgeBatch, func(ctx context.Context) (int, error) {
		tag, err := s.pool.Exec(ctx, `DELETE FROM events WHERE seq IN (
			SELECT seq FROM events WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, now, s.cfg.purgeBatch)
		if err != nil {
			return 0, fmt.Errorf("purge expired events: %w", err)
		}
		return int(tag.RowsAffected()), nil
	})
}
