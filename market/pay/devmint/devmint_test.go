package devmint_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	gcashu "github.com/elnosh/gonuts/cashu"
	"github.com/elnosh/gonuts/crypto"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

func start(t *testing.T, dir string, opts devmint.Options) *devmint.Mint {
	t.Helper()
	m, err := devmint.Start(t.Context(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopMint(t, m) })
	return m
}

func stopMint(t *testing.T, m *devmint.Mint) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = m.Shutdown(ctx)
}

func keysets(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/v1/keysets", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRestartKeepsURL: the port picked at the first start is kept, so the
// mint answers at the same URL, with the same keysets, after a restart;
// a kept port that is taken stops the start with an error naming it.
func TestRestartKeepsURL(t *testing.T) {
	dir := t.TempDir()
	m, err := devmint.Start(t.Context(), dir, devmint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	url, ks := m.URL(), keysets(t, m.URL())
	stopMint(t, m)
	m2 := start(t, dir, devmint.Options{})
	if m2.URL() != url {
		t.Fatalf("URL after restart %s, want %s", m2.URL(), url)
	}
	if got := keysets(t, m2.URL()); got != ks {
		t.Fatalf("keysets after restart %s, want %s", got, ks)
	}
	// The port is taken (by the running m2): a second start refuses.
	_, err = devmint.Start(t.Context(), dir, devmint.Options{})
	port := strings.TrimPrefix(url, "http://127.0.0.1:")
	if !errors.Is(err, devmint.ErrPortTaken) || !strings.Contains(err.Error(), port) || !strings.Contains(err.Error(), filepath.Join(dir, devmint.PortFile)) {
		t.Fatalf("start on a taken port: %v, want ErrPortTaken naming port %s and the port file", err, port)
	}
}

// TestListensOnLoopbackOnly: by default the mint is not reachable on the
// machine's other addresses (gonuts alone binds every interface).
func TestListensOnLoopbackOnly(t *testing.T) {
	m := start(t, t.TempDir(), devmint.Options{})
	_, port, err := net.SplitHostPort(strings.TrimPrefix(m.URL(), "http://"))
	if err != nil || !strings.HasPrefix(m.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %s, want http://127.0.0.1:PORT", m.URL())
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		tried++
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ipn.IP.String(), port), 2*time.Second)
		if err == nil {
			c.Close()
			t.Errorf("the mint answers on %s", ipn.IP)
		}
	}
	if tried == 0 {
		t.Log("no non-loopback address on this machine; only the URL was checked")
	}
}

// TestFilesPrivate: the mint's folder and database are private, even if
// they were made world-readable before.
func TestFilesPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mint")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mint.sqlite.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, dir, devmint.Options{})
	for name, want := range map[string]os.FileMode{".": 0o700, "mint.sqlite.db": 0o600, devmint.PortFile: 0o600} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, info.Mode().Perm(), want)
		}
	}
}

// TestInvoicesOutliveRestart: an invoice the mint issued before a restart
// is still paid after it (the fake backend pays every invoice at once), so
// a quote asked for before the restart is minted after it, and a melt to
// an invoice of the mint issued before the restart settles.
func TestInvoicesOutliveRestart(t *testing.T) {
	dir := t.TempDir()
	m, err := devmint.Start(t.Context(), dir, devmint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	post := func(url, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post(m.URL()+"/v1/mint/quote/bolt11", `{"amount":21,"unit":"sat"}`)
	var q struct{ Quote, Request string }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &q) != nil || q.Quote == "" {
		t.Fatalf("mint quote: %d %s", code, body)
	}
	stopMint(t, m)
	m = start(t, dir, devmint.Options{})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, m.URL()+"/v1/mint/quote/bolt11/"+q.Quote, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st struct{ State string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &st) != nil || st.State != "PAID" {
		t.Fatalf("quote of before the restart: %d %s, want PAID", resp.StatusCode, b)
	}
	// A melt quote for it is internal (no fee reserve); its settlement
	// needs the invoice's preimage, kept across the restart too.
	code, body = post(m.URL()+"/v1/melt/quote/bolt11", `{"request":"`+q.Request+`","unit":"sat"}`)
	if code != http.StatusOK {
		t.Fatalf("melt quote: %d %s", code, body)
	}
}

// TestConcurrentSwapsSignOnce: of several swaps of the same proofs sent at
// once, one succeeds, and a NUT-09 restore of every swap's outputs finds
// that one's signature only: no other swap's outputs were signed (gonuts
// stores a losing swap's signatures; restored, they would be ecash the
// mint was never paid for).
func TestConcurrentSwapsSignOnce(t *testing.T) {
	ctx := t.Context()
	m := start(t, t.TempDir(), devmint.Options{})
	w := paytest.Wallet(t, nil, m.URL())
	if err := w.Fund(ctx, 64); err != nil {
		t.Fatal(err)
	}
	sent, err := w.Send(ctx, 64, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := gcashu.DecodeToken(sent.Token)
	if err != nil {
		t.Fatal(err)
	}
	inputs := tok.Proofs()
	const swaps = 8
	outputs := make(gcashu.BlindedMessages, swaps)
	for i := range outputs {
		r, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		B, _, err := crypto.BlindMessage(fmt.Sprintf("swap-%d-%d", i, time.Now().UnixNano()), r)
		if err != nil {
			t.Fatal(err)
		}
		outputs[i] = gcashu.BlindedMessage{Amount: 64, Id: inputs[0].Id, B_: hex.EncodeToString(B.SerializeCompressed())}
	}
	post := func(path string, body any) (int, []byte) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, m.URL()+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, nil
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	var wg sync.WaitGroup
	var ok atomic.Int32
	start := make(chan struct{})
	for i := range swaps {
		wg.Go(func() {
			<-start
			if code, _ := post("/v1/swap", map[string]any{"inputs": inputs, "outputs": gcashu.BlindedMessages{outputs[i]}}); code == http.StatusOK {
				ok.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	code, body := post("/v1/restore", map[string]any{"outputs": outputs})
	var res struct {
		Signatures []json.RawMessage `json:"signatures"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &res) != nil {
		t.Fatalf("restore: %d %s", code, body)
	}
	if ok.Load() != 1 || len(res.Signatures) != 1 {
		t.Fatalf("%d of %d swaps of the same proofs succeeded and %d of their outputs are signed; want 1 and 1", ok.Load(), swaps, len(res.Signatures))
	}
}
