package main

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/journal"
)

// relayMints returns the mints the relay at ws URL names in NIP-11.
func relayMints(t *testing.T, wsURL string) []string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http"+strings.TrimPrefix(wsURL, "ws"), nil)
	req.Header.Set("Accept", "application/nostr+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Mints []string `json:"mints"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || len(info.Mints) != 1 {
		t.Fatalf("NIP-11 mints %v (%v)", info.Mints, err)
	}
	return info.Mints
}

func stop(t *testing.T, p *process) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("relay did not stop on SIGTERM")
	}
}

// TestBinaryRestartKeepsMoney: the embedded dev mint keeps its URL across
// restarts (so ecash minted before is spendable after), listens on
// loopback only, the data directory and its databases are private even
// if they were not before, and a second relay on the same directory is
// refused, naming the first.
func TestBinaryRestartKeepsMoney(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx := t.Context()
	bin := buildRelay(t)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "pay.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, bin, data)
	mint := relayMints(t, p.url)[0]

	// Loopback only: the mint's port is closed on the machine's other
	// addresses.
	_, port, err := net.SplitHostPort(strings.TrimPrefix(mint, "http://"))
	if err != nil || !strings.HasPrefix(mint, "http://127.0.0.1:") {
		t.Fatalf("dev mint URL %q, want http://127.0.0.1:PORT", mint)
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.To4() == nil {
			continue
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ipn.IP.String(), port), 2*time.Second)
		if err == nil {
			c.Close()
			t.Errorf("dev mint answers on %s:%s, want loopback only", ipn.IP, port)
		}
	}

	// Private files, whatever the modes before.
	for name, want := range map[string]os.FileMode{".": 0o700, "pay.db": 0o600, "events.db": 0o600, "pay.db-wal": 0o600, "devmint": 0o700, "lock": 0o600} {
		info, err := os.Stat(filepath.Join(data, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, info.Mode().Perm(), want)
		}
	}

	// A second relay on the same directory is refused, naming the first.
	out, err := exec.CommandContext(ctx, bin, "--listen", "127.0.0.1:0", "--data", data).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("second relay on the data directory: %v, want a non-zero exit; output:\n%s", err, out)
	}
	if want := "pid " + strconv.Itoa(p.cmd.Process.Pid) + " meshrelay"; !strings.Contains(string(out), want) {
		t.Fatalf("the refusal does not name the holder %q:\n%s", want, out)
	}

	// A wallet funds itself at the dev mint.
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "wallet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	cfg := cashu.DefaultConfig()
	cfg.Mints, cfg.PrivateKey = []string{mint}, nostr.GeneratePrivateKey()
	w, err := cashu.Open(ctx, j, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Fund(ctx, 21); err != nil {
		t.Fatal(err)
	}

	stop(t, p)
	p = start(t, bin, data)
	if got := relayMints(t, p.url)[0]; got != mint {
		t.Fatalf("dev mint moved from %s to %s across a restart", mint, got)
	}
	// The ecash minted before the restart is good at the same URL.
	s, err := w.Send(ctx, 8, cashu.SendOptions{})
	if err != nil {
		t.Fatalf("send after the relay restarted: %v", err)
	}
	if _, err := w.Receive(ctx, s.Token, cashu.ReceiveOptions{}); err != nil {
		t.Fatalf("receive after the relay restarted: %v", err)
	}
	if b, err := w.Balance(ctx); err != nil || b != 21 {
		t.Fatalf("balance %d %v, want 21", b, err)
	}
	stop(t, p)
}
