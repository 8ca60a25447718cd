// Package devmint runs a Cashu mint for development and tests, in process, on
// 127.0.0.1 (unless told otherwise): the gonuts mint
// (github.com/elnosh/gonuts) with its fake Lightning backend. Its port is
// chosen at the first start and kept in its folder, so its URL, which
// wallets key their ecash by, stays the same across restarts; so are the
// invoices its backend issued (file "invoices"), so a quote asked for
// before a restart is still paid, and a melt to it still settles, after it.
//
// TEST MONEY. Every Lightning invoice this mint issues is reported paid at
// once, so its ecash is backed by nothing. It exists so that a newcomer can
// trade at once and so that tests run against a real mint over HTTP. Never
// announce its URL as a real mint; every log line it writes carries
// test_money=true.
package devmint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/elnosh/gonuts/mint"

	"github.com/sovmesh/sovmesh/internal/datadir"
)

// Label is the attribute value and mint name every dev mint carries.
const Label = "TEST MONEY (sovmesh dev mint, fake Lightning backend)"

// Options configures a dev mint. The zero value is valid.
type Options struct {
	// InputFeePpk is the keyset's input fee in parts per thousand per proof
	// (NUT-02). Default 0.
	InputFeePpk uint
	// Logger receives the mint's start and stop lines (with test_money=true).
	// Default: discard.
	Logger *slog.Logger
	// StartTimeout bounds the wait for GET /v1/info. Default 10s.
	StartTimeout time.Duration
	// FeeReserve is the Lightning fee, in sats, the fake backend reserves
	// for each payment to an invoice of another mint (NUT-05 fee_reserve).
	// Default 0.
	FeeReserve uint64
	// Listen is the host:port the mint listens on. Default "127.0.0.1:0".
	// Port 0: the port picked at the first start is kept in the mint's
	// folder (file "port") and reused; if it is taken at a later start,
	// Start fails naming it rather than moving the mint.
	Listen string
	// Strict: an invoice of this mint is paid only when another dev mint
	// of this process pays it (Backend.SetStrict), so an unpaid mint quote
	// stays unpaid. Default: every invoice is paid at once.
	Strict bool
}

// PortFile holds, in the mint's folder, the port picked at its first start.
const PortFile = "port"

// ErrPortTaken means the mint's kept port is in use by another process.
var ErrPortTaken = errors.New("devmint: the mint's port is taken")

// Mint is a running dev mint.
type Mint struct {
	srv     *mint.MintServer
	url     string
	dir     string
	done    chan error
	log     *slog.Logger
	Backend *Backend
}

// Start runs a dev mint whose database lives in dir, on a free port of
// 127.0.0.1, and returns once it answers GET /v1/info. The same dir gives the
// same keys (and so the same ecash) across restarts.
func Start(ctx context.Context, dir string, opts Options) (*Mint, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 10 * time.Second
	}
	if err := datadir.Private(dir); err != nil {
		return nil, fmt.Errorf("devmint: %w", err)
	}
	// gonuts' database is created private (SQLite gives its journal the
	// same mode), and an older one is tightened.
	dbFile := filepath.Join(dir, "mint.sqlite.db")
	f, err := os.OpenFile(dbFile, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("devmint: %w", err)
	}
	f.Close()
	if err := datadir.PrivateFiles(dbFile, dbFile+"-journal", dbFile+"-wal", dbFile+"-shm"); err != nil {
		return nil, fmt.Errorf("devmint: %w", err)
	}
	ln, err := listen(dir, opts.Listen)
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	backend, err := OpenBackend(filepath.Join(dir, InvoicesFile), opts.FeeReserve)
	if err != nil {
		ln.Close()
		return nil, err
	}
	if opts.Strict {
		backend.SetStrict()
	}
	srv, err := mint.SetupMintServer(mint.Config{
		Port:            port,
		MintPath:        dir,
		InputFeePpk:     opts.InputFeePpk,
		LightningClient: backend,
		LogLevel:        mint.Disable,
		MintInfo: mint.MintInfo{
			Name:        "sovmesh dev mint - TEST MONEY",
			Description: Label,
			Motd:        "TEST MONEY: invoices are paid by a fake Lightning backend",
		},
	})
	if err != nil {
		ln.Close()
		backend.Close()
		return nil, fmt.Errorf("devmint: setup: %w", err)
	}
	hs, err := httpServerOf(srv)
	if err != nil {
		srv.Shutdown()
		ln.Close()
		backend.Close()
		return nil, err
	}
	hs.Handler = oneSpendAtATime(hs.Handler)
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	m := &Mint{
		srv:     srv,
		url:     "http://" + net.JoinHostPort(host, strconv.Itoa(port)),
		dir:     dir,
		done:    make(chan error, 1),
		log:     opts.Logger.With("test_money", true),
		Backend: backend,
	}
	hs.Handler = quoteFields(hs.Handler)
	go func() {
		err := hs.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		m.done <- err
	}()
	wctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := m.waitReady(wctx); err != nil {
		srv.Shutdown()
		<-m.done
		backend.Close()
		return nil, err
	}
	m.log.Warn("dev mint started: TEST MONEY, fake Lightning backend", "url", m.url, "label", Label)
	return m, nil
}

// URL returns the mint's base URL, http://HOST:PORT (127.0.0.1 when it
// listens on every interface).
func (m *Mint) URL() string { return m.url }

// Dir returns the folder holding the mint's database (and so its seed).
func (m *Mint) Dir() string { return m.dir }

// Shutdown stops the mint and waits for its server to return.
func (m *Mint) Shutdown(ctx context.Context) error {
	m.srv.Shutdown()
	select {
	case err := <-m.done:
		m.log.Info("dev mint stopped", "url", m.url)
		return errors.Join(err, m.Backend.Close())
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Mint) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-m.done:
			return fmt.Errorf("devmint: server exited: %v", err)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.url+"/v1/info", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devmint: not ready: %w", errors.Join(ctx.Err(), err))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// listen opens the mint's listener on addr (default 127.0.0.1:0). With
// port 0 it reuses the port kept in dir, or keeps the one it picks.
func listen(dir, addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("devmint: listen address %q: %w", addr, err)
	}
	keep := filepath.Join(dir, PortFile)
	kept := false
	if port == "0" {
		b, err := os.ReadFile(keep)
		switch {
		case err == nil:
			p, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 16)
			if perr != nil || p == 0 {
				return nil, fmt.Errorf("devmint: %s: want a port number, have %q", keep, strings.TrimSpace(string(b)))
			}
			port, kept = strconv.FormatUint(p, 10), true
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("devmint: %w", err)
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		if kept {
			return nil, fmt.Errorf("%w: %s (kept in %s so the mint's URL stays the same): %v; stop what uses it, or delete %s to pick a new port and then move each wallet's ecash with `agentd wallet mint-moved OLD NEW`",
				ErrPortTaken, net.JoinHostPort(host, port), keep, err, keep)
		}
		return nil, fmt.Errorf("devmint: listen on %s: %w", net.JoinHostPort(host, port), err)
	}
	if port == "0" {
		p := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		if err := os.WriteFile(keep, []byte(p+"\n"), 0o600); err != nil {
			ln.Close()
			return nil, fmt.Errorf("devmint: keep the port: %w", err)
		}
	}
	return ln, nil
}

// httpServerOf returns the http.Server gonuts' MintServer built. gonuts
// listens on ":"+port, every interface, and takes no listener; its server
// is unexported. We serve that server on our own listener instead, bound
// where we choose. gonuts is pinned (go.mod); TestListensOnLoopbackOnly
// fails if a new version moves the field.
func httpServerOf(srv *mint.MintServer) (*http.Server, error) {
	f := reflect.ValueOf(srv).Elem().FieldByName("httpServer")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*http.Server]() {
		return nil, errors.New("devmint: gonuts MintServer has no httpServer field; update httpServerOf for this gonuts version")
	}
	hs := *(**http.Server)(unsafe.Pointer(f.UnsafeAddr()))
	if hs == nil || hs.Handler == nil {
		return nil, errors.New("devmint: gonuts MintServer has no HTTP server")
	}
	return hs, nil
}

// oneSpendAtATime serializes the requests that spend or issue ecash (swap,
// mint, melt). gonuts v0.4.2 signs a swap's outputs and stores the
// signatures before it marks the inputs spent, in two steps: two swaps of
// the same proofs at once both pass the spent check, both are signed, and
// the loser is refused only when its inputs are marked; its signatures
// stay stored, and a NUT-09 restore of its outputs hands them out, ecash
// the mint was never paid for. One at a time, the second swap finds the
// inputs spent before anything is signed.
func oneSpendAtATime(next http.Handler) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && (r.URL.Path == "/v1/swap" || strings.HasPrefix(r.URL.Path, "/v1/mint/") && !strings.HasPrefix(r.URL.Path, "/v1/mint/quote") ||
			strings.HasPrefix(r.URL.Path, "/v1/melt/") && !strings.HasPrefix(r.URL.Path, "/v1/melt/quote")) {
			mu.Lock()
			defer mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}
