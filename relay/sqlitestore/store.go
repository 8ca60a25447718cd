// Package sqlitestore is the relay's event store: an eventstore.Store and
// eventstore.Counter on SQLite (modernc.org/sqlite, pure Go).
//
// Writes go through one writer goroutine that commits in groups: SaveEvent,
// ReplaceEvent and DeleteEvent queue a request and return once the
// transaction holding it has committed with synchronous=FULL, so an event
// SaveEvent returned nil for survives a crash or power loss, and many
// concurrent writers share one fsync. Reads use a separate pool of WAL reader
// connections and never wait for the writer.
//
// Filters follow go-nostr's Filter.Matches exactly (ids, authors, kinds,
// single-letter "#x" tags, since, until; a non-nil empty list matches
// nothing; a nil list matches everything), plus limit, and results come in
// created_at DESC, id ASC order. Tags are kept in their own table, so
// "#t":["tag1"] never selects tag10. Only tags whose name is one byte long are
// indexed: a filter on a longer tag name with values is refused with
// ErrUnsupportedFilter (NIP-01 defines only single-letter tag filters).
// Search (NIP-50) is ignored, as Filter.Matches ignores it. Events whose
// NIP-40 expiration has passed are never returned or counted, and a
// background purge deletes them.
package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/fiatjaf/eventstore"
	"github.com/sovmesh/sovmesh/internal/sqlitedb"
	"github.com/sovmesh/sovmesh/relay/storeerr"
)

var (
	_ eventstore.Store   = (*Store)(nil)
	_ eventstore.Counter = (*Store)(nil)
)

// The store's errors; see package storeerr.
var (
	ErrNewerVersion      = storeerr.ErrNewerVersion
	ErrNotReplaceable    = storeerr.ErrNotReplaceable
	ErrInvalidEvent      = storeerr.ErrInvalidEvent
	ErrUnsupportedFilter = storeerr.ErrUnsupportedFilter
	ErrClosed            = storeerr.ErrClosed
)

// Defaults used by New when no option changes them.
const (
	DefaultBatchSize     = 512
	DefaultBatchWait     = 0
	DefaultPurgeInterval = time.Minute
	DefaultPurgeBatch    = 500
)

// Option changes how New opens the store.
type Option func(*config)

type config struct {
	log           *slog.Logger
	batchSize     int
	batchWait     time.Duration
	purgeInterval time.Duration
	purgeBatch    int
	readers       int
	now           func() time.Time
}

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithBatch sets group commit: at most size writes per transaction
// (default DefaultBatchSize), and how long the writer waits for more writes
// once the queue is empty before committing (default 0: commit as soon as
// the queue is momentarily empty; concurrent writers still share a commit
// because they queue up while the previous one syncs).
func WithBatch(size int, wait time.Duration) Option {
	return func(c *config) { c.batchSize, c.batchWait = size, wait }
}

// WithPurgeInterval sets how often expired events (NIP-40) are deleted
// (default DefaultPurgeInterval; 0 or less disables the purge). Expired events
// are never returned whether or not they have been purged.
func WithPurgeInterval(d time.Duration) Option { return func(c *config) { c.purgeInterval = d } }

// WithPurgeBatch sets how many expired events one purge transaction deletes
// (default DefaultPurgeBatch).
func WithPurgeBatch(n int) Option { return func(c *config) { c.purgeBatch = n } }

// WithReaders sets the number of read connections (default 2×GOMAXPROCS,
// at least 4).
func WithReaders(n int) Option { return func(c *config) { c.readers = n } }

// WithClock sets the clock used for NIP-40 expiration (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Store is the SQLite event store. Its methods are safe for concurrent use.
type Store struct {
	cfg config
	log *slog.Logger
	db  *sql.DB

	reqs    chan *request
	mu      sync.RWMutex // guards closed against sends on reqs
	closed  bool
	writerD chan struct{} // closed when the writer has exited

	ctx    context.Context // cancelled by Close; stops the purge and queries
	cancel context.CancelFunc
	wg     sync.WaitGroup // purge and query goroutines

	closeOnce sync.Once

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // prepared read statements by SQL text

	health *sql.Conn // Ping's own connection
}

// New opens (creating if needed) the store at path, applies the "relay"
// migrations and starts the writer and the expiration purge.
func New(path string, opts ...Option) (*Store, error) {
	cfg := config{
		log:           slog.Default(),
		batchSize:     DefaultBatchSize,
		batchWait:     DefaultBatchWait,
		purgeInterval: DefaultPurgeInterval,
		purgeBatch:    DefaultPurgeBatch,
		readers:       max(4, 2*runtime.GOMAXPROCS(0)),
		now:           time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.batchSize < 1 {
		cfg.batchSize = 1
	}
	if cfg.purgeBatch < 1 {
		cfg.purgeBatch = DefaultPurgeBatch
	}
	if cfg.readers < 1 {
		cfg.readers = 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	db, err := sqlitedb.Open(ctx, path, "relay")
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open event store: %w", err)
	}
	// One connection is the writer's for the store's lifetime, one answers
	// Ping; the rest read.
	db.SetMaxOpenConns(cfg.readers + 2)
	db.SetMaxIdleConns(cfg.readers + 2)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)

	s := &Store{
		cfg:     cfg,
		log:     cfg.log,
		db:      db,
		reqs:    make(chan *request, cfg.batchSize*2),
		stmts:   make(map[string]*sql.Stmt),
		writerD: make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
	}
	if s.health, err = db.Conn(ctx); err != nil {
		cancel()
		db.Close()
		return nil, fmt.Errorf("open event store: %w", err)
	}
	w, err := newWriter(s)
	if err != nil {
		cancel()
		s.health.Close()
		db.Close()
		return nil, fmt.Errorf("open event store: %w", err)
	}
	go func() {
		defer close(s.writerD)
		w.run()
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

// Init does nothing: New has opened the store. It exists for eventstore.Store.
func (s *Store) Init() error { return nil }

// Close stops the purge, cancels running queries, commits the writes already
// queued and closes the database. Calls after Close return ErrClosed.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.reqs)
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		<-s.writerD
		s.stmtMu.Lock()
		for q, st := range s.stmts {
			st.Close()
			delete(s.stmts, q)
		}
		s.stmtMu.Unlock()
		s.health.Close()
		if err := s.db.Close(); err != nil {
			s.log.Warn("close event store", "err", err)
		}
	})
}

func (s *Store) now() int64 { return s.cfg.now().Unix() }

// track registers a goroutine that Close waits for; it fails after Close.
func (s *Store) track() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.wg.Add(1)
	return nil
}
