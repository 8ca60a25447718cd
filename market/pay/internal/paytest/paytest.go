// Package paytest holds test helpers for the payment packages: a dev mint,
// a switchable proxy in front of it (to make the mint unreachable), and
// wallets on fresh journals.
package paytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

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
	j, err := journal.Open(context.Background(), filepath.Join(dir, "pay.db"))
	if err != nil {
		t.Fatalf("paytest: open journal: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j
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
	cfg := cashu.DefaultConfig()
	cfg.Mints = mints
	cfg.PrivateKey = key
	if configure != nil {
		configure(&cfg)
	}
	w, err := cashu.Open(context.Background(), OpenJournal(t, dir), cfg)
	if err != nil {
		t.Fatalf("paytest: open wallet: %v", err)
	}
	return w
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
