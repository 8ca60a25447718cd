// Package devmint runs a Cashu mint for development and tests, in process, on
// 127.0.0.1: the gonuts mint (github.com/elnosh/gonuts) with its fake
// Lightning backend.
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
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/elnosh/gonuts/mint"
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
}

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
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("devmint: create dir: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("devmint: pick port: %w", err)
	}
	backend := NewBackend(opts.FeeReserve)
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
		return nil, fmt.Errorf("devmint: setup: %w", err)
	}
	m := &Mint{
		srv:     srv,
		url:     "http://127.0.0.1:" + strconv.Itoa(port),
		dir:     dir,
		done:    make(chan error, 1),
		log:     opts.Logger.With("test_money", true),
		Backend: backend,
	}
	go func() { m.done <- srv.Start() }()
	wctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := m.waitReady(wctx); err != nil {
		srv.Shutdown()
		<-m.done
		return nil, err
	}
	m.log.Warn("dev mint started: TEST MONEY, fake Lightning backend", "url", m.url, "label", Label)
	return m, nil
}

// URL returns the mint's base URL, http://127.0.0.1:PORT.
func (m *Mint) URL() string { return m.url }

// Dir returns the folder holding the mint's database (and so its seed).
func (m *Mint) Dir() string { return m.dir }

// Shutdown stops the mint and waits for its server to return.
func (m *Mint) Shutdown(ctx context.Context) error {
	m.srv.Shutdown()
	select {
	case err := <-m.done:
		m.log.Info("dev mint stopped", "url", m.url)
		return err
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

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
