package nut24_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/creq"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/nut24"
	"github.com/sovmesh/sovmesh/market/pay/nut24/nut24test"
)

func balance(t *testing.T, w *cashu.Wallet) uint64 {
	t.Helper()
	b, err := w.Balance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func get(t *testing.T, c *nut24test.Client, url string) (string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", errors.New(resp.Status)
	}
	return string(b), nil
}

func TestPaywall(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	serverWallet := paytest.Wallet(t, nil, m.URL())
	clientWallet := paytest.Funded(t, 100, nil, m.URL())
	var price atomic.Uint64
	price.Store(5)
	var failNext atomic.Bool
	var served atomic.Int32
	srv := &nut24.Server{Wallet: serverWallet, Price: func(r *http.Request) uint64 {
		if strings.HasPrefix(r.URL.Path, "/free") {
			return 0
		}
		return price.Load()
	}}
	ts := httptest.NewServer(srv.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failNext.CompareAndSwap(true, false) {
			http.Error(w, "storage hiccup", http.StatusInternalServerError) // after the payment was taken
			return
		}
		served.Add(1)
		_, _ = io.WriteString(w, "blob")
	})))
	defer ts.Close()
	c := &nut24test.Client{Wallet: clientWallet, HTTP: ts.Client(), Max: 10}

	// The 402 carries a creqA request for the price at the server's mints.
	resp, err := ts.Client().Get(ts.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r, err := creq.Decode(resp.Header.Get(nut24.Header))
	if resp.StatusCode != 402 || err != nil || r.Amount != 5 || r.Unit != "sat" || r.Mints[0] != m.URL() {
		t.Fatalf("402: %d %+v %v", resp.StatusCode, r, err)
	}
	if body, err := get(t, c, ts.URL+"/free"); err != nil || body != "blob" {
		t.Fatalf("free: %q %v", body, err)
	}
	// Paid.
	if body, err := get(t, c, ts.URL+"/x"); err != nil || body != "blob" {
		t.Fatalf("paid: %q %v", body, err)
	}
	if b, s := balance(t, clientWallet), balance(t, serverWallet); b != 95 || s != 5 {
		t.Fatalf("client %d server %d", b, s)
	}
	// The response after the redeem is lost (500): the retry with the same
	// token is served, and paid once.
	failNext.Store(true)
	if body, err := get(t, c, ts.URL+"/x"); err != nil || body != "blob" {
		t.Fatalf("after a lost response: %q %v", body, err)
	}
	if b, s := balance(t, clientWallet), balance(t, serverWallet); b != 90 || s != 10 {
		t.Fatalf("client %d server %d after the lost response", b, s)
	}
	// Over the client's cap: nothing paid.
	price.Store(50)
	if _, err := get(t, c, ts.URL+"/x"); !errors.Is(err, cashu.ErrWrongAmount) {
		t.Fatalf("over cap: %v", err)
	}
	// The price rises between the 402 and the retry: 400, the token comes back.
	price.Store(6)
	raise := &nut24.Server{Wallet: serverWallet, Price: func(r *http.Request) uint64 {
		if r.Header.Get(nut24.Header) != "" {
			return 9
		}
		return 6
	}}
	ts2 := httptest.NewServer(raise.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "blob")
	})))
	defer ts2.Close()
	c2 := &nut24test.Client{Wallet: clientWallet, HTTP: ts2.Client()}
	if _, err := get(t, c2, ts2.URL+"/x"); !errors.Is(err, nut24test.ErrRefused) {
		t.Fatalf("refused: %v", err)
	}
	if b, s := balance(t, clientWallet), balance(t, serverWallet); b != 90 || s != 10 {
		t.Fatalf("client %d server %d after a refusal", b, s)
	}
	// A token serves one successful request: replayed after it, refused.
	sent, err := clientWallet.Send(ctx, 5, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	price.Store(5)
	for i, want := range []int{200, 400, 400, 400} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/x", nil)
		req.Header.Set(nut24.Header, sent.Token)
		switch i {
		case 2:
			req.URL.Path = "/y" // nor for another resource
		case 3:
			req.Header.Set(nut24.Header, "cashuBnope")
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("attempt %d: HTTP %d, want %d", i, resp.StatusCode, want)
		}
	}
}

// TestPaywallLocked: a server asking for locked tokens (in a NUT-26
// creqb request) gets them.
func TestPaywallLocked(t *testing.T) {
	m := paytest.StartMint(t)
	serverWallet := paytest.Wallet(t, nil, m.URL())
	clientWallet := paytest.Funded(t, 20, nil, m.URL())
	srv := &nut24.Server{Wallet: serverWallet, Lock: true, Bech32: true, Price: func(*http.Request) uint64 { return 3 }}
	ts := httptest.NewServer(srv.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})))
	defer ts.Close()
	resp0, err := ts.Client().Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp0.Body.Close()
	if h := resp0.Header.Get(nut24.Header); !strings.HasPrefix(h, "CREQB1") {
		t.Fatalf("402 header %q", h)
	}
	c := &nut24test.Client{Wallet: clientWallet, HTTP: ts.Client()}
	if body, err := get(t, c, ts.URL); err != nil || body != "ok" {
		t.Fatalf("locked: %q %v", body, err)
	}
	if s := balance(t, serverWallet); s != 3 {
		t.Fatalf("server %d", s)
	}
	// An unlocked token is refused.
	sent, err := clientWallet.Send(t.Context(), 3, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL, nil)
	req.Header.Set(nut24.Header, sent.Token)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("unlocked token: HTTP %d", resp.StatusCode)
	}
}

// TestPaywallConcurrentReuse: the same token sent with two requests at
// once pays for one of them.
func TestPaywallConcurrentReuse(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	serverWallet := paytest.Wallet(t, nil, m.URL())
	clientWallet := paytest.Funded(t, 20, nil, m.URL())
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	srv := &nut24.Server{Wallet: serverWallet, Price: func(*http.Request) uint64 { return 3 }}
	ts := httptest.NewServer(srv.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "ok")
	})))
	defer ts.Close()
	sent, err := clientWallet.Send(ctx, 3, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	do := func() int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/x", nil)
		req.Header.Set(nut24.Header, sent.Token)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	first := make(chan int, 1)
	go func() { first <- do() }()
	<-entered // the first request is being served
	if code := do(); code != 400 {
		t.Fatalf("second request with the same token while the first is served: HTTP %d", code)
	}
	close(release)
	if code := <-first; code != 200 {
		t.Fatalf("first request: HTTP %d", code)
	}
}

// TestPaywallReceiveOptions: the server's Receive hook gives the redeem
// its counterparty and journal hook (a ledger line in the receive's
// transaction), and a refused payment carries X-Reason (BUD-07).
func TestPaywallReceiveOptions(t *testing.T) {
	m := paytest.StartMint(t)
	serverWallet := paytest.Wallet(t, nil, m.URL())
	clientWallet := paytest.Funded(t, 20, nil, m.URL())
	var journaled atomic.Int64
	srv := &nut24.Server{Wallet: serverWallet, Price: func(*http.Request) uint64 { return 4 },
		Receive: func(r *http.Request) cashu.ReceiveOptions {
			return cashu.ReceiveOptions{Counterparty: r.Header.Get("X-Payer"), OnJournal: func(ctx context.Context, tx *sql.Tx, opID int64) error {
				var cp string
				if err := tx.QueryRowContext(ctx, `SELECT counterparty FROM ops WHERE id = ?`, opID).Scan(&cp); err != nil || cp != "alice" {
					return fmt.Errorf("op %d counterparty %q: %v", opID, cp, err)
				}
				journaled.Add(1)
				return nil
			}}
		}}
	ts := httptest.NewServer(srv.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })))
	defer ts.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL+"/x", nil)
	req.Header.Set("X-Payer", "alice")
	resp, err := (&nut24test.Client{Wallet: clientWallet, HTTP: ts.Client(), Max: 10}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || journaled.Load() != 1 {
		t.Fatalf("%s, journaled %d times", resp.Status, journaled.Load())
	}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL+"/x", nil)
	req.Header.Set(nut24.Header, "cashuBnope")
	resp, err = ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Reason") != "malformed token" {
		t.Fatalf("%s, X-Reason %q", resp.Status, resp.Header.Get("X-Reason"))
	}
}
