// Package paytest holds test helpers for the payment packages: a dev mint,
// a switchable proxy in front of it (to make the mint unreachable), and
// wallets on fresh journals.
package paytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/internal/pgtest"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// StartMint runs a dev mint for the test (no input fees).
func StartMint(t testing.TB) *devmint.Mint {
	t.Helper()
	return StartFeeMint(t, 0)
}

// Proxy forwards to a mint and can be switched off (its port closed) to make
// the mint unreachable.
type Proxy struct {
	URL  string
	t    testing.TB
	addr string
	rp   http.Handler
	mu   sync.Mutex
	srv  *http.Server
}

// SetDown closes the proxy's port (true) or opens it again (false).
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if down && p.srv != nil {
		p.srv.Close()
		p.srv = nil
	}
	if !down && p.srv == nil {
		p.serve()
	}
}

func (p *Proxy) serve() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("paytest: proxy listen: %v", err)
	}
	p.addr = ln.Addr().String()
	p.srv = &http.Server{Handler: p.rp}
	p.srv.SetKeepAlivesEnabled(false)
	go p.srv.Serve(ln)
}

// StartProxy runs a proxy to target on 127.0.0.1.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, addr: "127.0.0.1:0", rp: httputil.NewSingleHostReverseProxy(u)}
	p.serve()
	t.Cleanup(func() { p.SetDown(true) })
	p.URL = "http://" + p.addr
	return p
}

// NewKey returns a random 32-byte private key in hex.
func NewKey(t testing.TB) string {
	t.Helper()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// OpenJournal opens a journal at dir/pay.db, closed at cleanup.
func OpenJournal(t testing.TB, dir string) *journal.Journal {
	t.Helper()
	return SQLite.OpenJournal(t, dir)
}

// Backend is a database a journal can live in: the tests of the relay's
// wallet and fees run against each of Backends.
type Backend struct {
	Name string
	open func(t testing.TB, dir string) (*journal.Journal, error)
}

// SQLite keeps a journal in dir/pay.db.
// A new journal starts as a copy of a migrated empty one (see migrated).
var SQLite = Backend{Name: "sqlite", open: func(t testing.TB, dir string) (*journal.Journal, error) {
	path := filepath.Join(dir, "pay.db")
	if err := seedJournal(path); err != nil {
		return nil, err
	}
	return journal.Open(context.Background(), path)
}}

// migrated is pay.db as journal.Open leaves it in an empty directory
// (every migration applied, no rows), made once per test binary: a new
// journal starts as a copy of it, so the migrations, most of a journal's
// first open under -race, run once per package instead of once per wallet.
var migrated struct {
	once sync.Once
	db   []byte
	err  error
}

// seedJournal writes the migrated journal at path unless a file is there.
func seedJournal(path string) error {
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	migrated.once.Do(func() { migrated.db, migrated.err = migratedJournal() })
	if migrated.err != nil {
		return fmt.Errorf("paytest: migrated journal: %w", migrated.err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, migrated.db, 0o600)
}

func migratedJournal() ([]byte, error) {
	dir, err := os.MkdirTemp("", "paytest-migrated-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "pay.db")
	j, err := journal.Open(context.Background(), path)
	if err != nil {
		return nil, err
	}
	if err := j.Close(); err != nil {
		return nil, err
	}
	// Closed: the WAL is checkpointed into the file and removed.
	if _, err := os.Stat(path + "-wal"); err == nil {
		return nil, errors.New("pay.db kept its WAL after closing")
	}
	return os.ReadFile(path)
}

// Postgres keeps a journal in a PostgreSQL database (internal/pgtest) made
// for dir at its first open and used by every later open of dir, as a
// file would be; the package's TestMain must call pgtest.Main. A test
// without a server is skipped (or fails when PostgreSQL is required).
var Postgres = Backend{Name: "postgres", open: func(t testing.TB, dir string) (*journal.Journal, error) {
	pgDBs.mu.Lock()
	url, ok := pgDBs.m[dir]
	pgDBs.mu.Unlock()
	if !ok {
		url = pgtest.DB(t)
		pgDBs.mu.Lock()
		pgDBs.m[dir] = url
		pgDBs.mu.Unlock()
		t.Cleanup(func() {
			pgDBs.mu.Lock()
			delete(pgDBs.m, dir)
			pgDBs.mu.Unlock()
		})
	}
	return journal.OpenPostgres(context.Background(), url)
}}

var pgDBs = struct {
	mu sync.Mutex
	m  map[string]string // dir -> database URL
}{m: map[string]string{}}

// Backends returns every backend.
func Backends() []Backend { return []Backend{SQLite, Postgres} }

// OpenJournal opens the journal of dir in b, closed at cleanup.
func (b Backend) OpenJournal(t testing.TB, dir string) *journal.Journal {
	t.Helper()
	j, err := b.open(t, dir)
	if err != nil {
		t.Fatalf("paytest: open %s journal: %v", b.Name, err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// WalletAt opens a wallet on the journal of dir in b (to reopen after a
// crash: close the first one's journal, as the crash would).
func (b Backend) WalletAt(t testing.TB, dir, key string, configure func(*cashu.Config), mints ...string) *cashu.Wallet {
	t.Helper()
	cfg := cashu.DefaultConfig()
	cfg.Mints = mints
	cfg.PrivateKey = key
	if configure != nil {
		configure(&cfg)
	}
	w, err := cashu.Open(context.Background(), b.OpenJournal(t, dir), cfg)
	if err != nil {
		t.Fatalf("paytest: open wallet: %v", err)
	}
	return w
}

// Wallet opens a wallet on a fresh journal, allowing mints; configure may
// adjust the config.
func Wallet(t testing.TB, configure func(*cashu.Config), mints ...string) *cashu.Wallet {
	t.Helper()
	return WalletAt(t, t.TempDir(), NewKey(t), configure, mints...)
}

// WalletAt opens a wallet on the journal in dir (to reopen after a crash).
func WalletAt(t testing.TB, dir, key string, configure func(*cashu.Config), mints ...string) *cashu.Wallet {
	t.Helper()
	return SQLite.WalletAt(t, dir, key, configure, mints...)
}

// Funded opens a wallet holding amount sats of the mint.
func Funded(t testing.TB, amount uint64, configure func(*cashu.Config), mints ...string) *cashu.Wallet {
	t.Helper()
	w := Wallet(t, configure, mints...)
	if err := w.Fund(context.Background(), amount); err != nil {
		t.Fatalf("paytest: fund: %v", err)
	}
	return w
}

// StartFeeMint runs a dev mint whose keyset charges ppk parts per thousand
// of a sat per input proof (NUT-02 input_fee_ppk).
func StartFeeMint(t testing.TB, ppk uint) *devmint.Mint {
	t.Helper()
	return StartMintWith(t, devmint.Options{InputFeePpk: ppk})
}

// StartMintWith runs a dev mint with opts, stopped at cleanup.
func StartMintWith(t testing.TB, opts devmint.Options) *devmint.Mint {
	t.Helper()
	m, err := devmint.Start(context.Background(), t.TempDir(), opts)
	if err != nil {
		t.Fatalf("paytest: start mint: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
	})
	return m
}
