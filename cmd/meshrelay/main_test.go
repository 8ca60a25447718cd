package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
	_ "modernc.org/sqlite"
)

func TestDefaults(t *testing.T) {
	c, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.relay.Listen != "127.0.0.1:7447" || c.relay.DataDir != "./sovmesh-data" || c.log.level != "info" {
		t.Fatalf("defaults: listen %q data %q log %q", c.relay.Listen, c.relay.DataDir, c.log.level)
	}
}

func TestTrustedProxiesFlag(t *testing.T) {
	c, err := parseConfig([]string{"--trusted-proxies", " 10.1.2.3/8, 127.0.0.1 ,::1,::ffff:192.0.2.1"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(c.relay.TrustedProxies)
	if want := "[10.0.0.0/8 127.0.0.1/32 ::1/128 192.0.2.1/32]"; got != want {
		t.Fatalf("trusted proxies %s, want %s", got, want)
	}
	if d, _ := parseConfig(nil, func(string) string { return "" }, io.Discard); len(d.relay.TrustedProxies) != 0 {
		t.Fatalf("default trusts %v, want none", d.relay.TrustedProxies)
	}
}

func TestBadValuesStopTheStart(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		says string
	}{
		{"flag not a number", []string{"--max-limit", "lots"}, nil, "max-limit"},
		{"env not a duration", nil, map[string]string{"SOVMESH_MAX_FUTURE": "15"}, "SOVMESH_MAX_FUTURE"},
		{"env bad auth", nil, map[string]string{"SOVMESH_AUTH": "sometimes"}, "SOVMESH_AUTH"},
		{"bad listen", []string{"--listen", "nowhere"}, nil, "listen"},
		{"default above max", []string{"--default-limit", "10", "--max-limit", "5"}, nil, "default-limit"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "log-level"},
		{"unknown flag", []string{"--listn", "x"}, nil, "listn"},
		{"bad trust seed", []string{"--trust-seeds", "npub1xyz"}, nil, "seed"},
		{"send queue below two messages", []string{"--send-queue-bytes", "1000"}, nil, "send-queue-bytes"},
		{"env send queue of one message", nil, map[string]string{"SOVMESH_SEND_QUEUE_MESSAGES": "1"}, "send-queue-messages"},
		{"no write timeout", []string{"--write-timeout", "0s"}, nil, "write-timeout"},
		{"no message timeout", []string{"--message-timeout", "0s"}, nil, "message-timeout"},
		{"trusted below unknown", []string{"--trusted-event-rate", "1", "--unknown-event-rate", "2"}, nil, "rate"},
		{"bad trusted proxy", []string{"--trusted-proxies", "10.0.0.0/8,proxy.lan"}, nil, "trusted-proxies"},
		{"env bad trusted proxy", nil, map[string]string{"SOVMESH_TRUSTED_PROXIES": "10.0.0.0/33"}, "SOVMESH_TRUSTED_PROXIES"},
		{"negative ip-max-connections", []string{"--ip-max-connections", "-1"}, nil, "ip-max-connections"},
		{"negative max-connections", []string{"--max-connections", "-5"}, nil, "max-connections"},
		{"negative heavy-queue", []string{"--heavy-queue", "-1"}, nil, "heavy-queue"},
		{"negative ip-conn-burst", []string{"--ip-conn-burst", "-1"}, nil, "ip-conn-burst"},
		{"negative rate-limited-pause", []string{"--rate-limited-pause", "-1s"}, nil, "rate-limited-pause"},
		{"env negative heavy-cache-ttl", nil, map[string]string{"SOVMESH_HEAVY_CACHE_TTL": "-1s"}, "heavy-cache-ttl"},
		{"negative ip-heavy-rate", []string{"--ip-heavy-rate", "-2"}, nil, "ip-heavy-rate"},
		{"no store batch", []string{"--store-batch", "0"}, nil, "store-batch must be positive"},
		{"env negative store-batch-wait", nil, map[string]string{"SOVMESH_STORE_BATCH_WAIT": "-1ms"}, "store-batch-wait"},
		{"negative store-readers", []string{"--store-readers", "-1"}, nil, "store-readers"},
		{"negative purge-interval", []string{"--purge-interval", "-1m"}, nil, "purge-interval"},
		{"env no purge batch", nil, map[string]string{"SOVMESH_PURGE_BATCH": "0"}, "purge-batch must be positive"},
		{"service url not ws", []string{"--service-url", "https://relay.example.com"}, nil, "service-url"},
		{"fees with database and the dev mint", []string{"--offer-fee", "2"}, map[string]string{"SOVMESH_DATABASE": "postgres://relay@127.0.0.1:1/relay"}, "offer-fee and match-fee with database: set mints"},
		{"env database not postgres", nil, map[string]string{"SOVMESH_DATABASE": "mysql://relay:hunter2@db/relay"}, "database: want a postgres:// URL (the value is not shown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			args := append([]string{"--data", t.TempDir()}, tc.args...)
			code := run(t.Context(), args, func(k string) string { return tc.env[k] }, &stderr)
			if code == 0 {
				t.Fatal("started with a bad value")
			}
			if !strings.Contains(stderr.String(), tc.says) {
				t.Fatalf("error %q does not name %q", stderr.String(), tc.says)
			}
		})
	}
}

func TestReadmeDocumentsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	c := defaultsForDocs()
	fs := newFlagSet(&c, io.Discard)
	fs.VisitAll(func(f *flag.Flag) {
		row := fmt.Sprintf("| `--%s` | `%s` |", f.Name, envName(f.Name))
		if !strings.Contains(string(readme), row) {
			t.Errorf("README configuration table lacks the row starting %q", row)
		}
	})
}

// buildRelay compiles meshrelay into a temporary directory.
func buildRelay(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "meshrelay")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build meshrelay: %v\n%s", err, out)
	}
	return bin
}

type process struct {
	cmd  *exec.Cmd
	url  string
	logs *strings.Builder
	mu   *sync.Mutex
	done chan error
}

func (p *process) logString() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// start runs the binary on a free port and waits for its listening log line.
func start(t *testing.T, bin, data string) *process {
	t.Helper()
	return startWith(t, bin, data, nil)
}

// startWith is start with more environment variables (NAME=value).
func startWith(t *testing.T, bin, data string, env []string) *process {
	t.Helper()
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--data", data, "--log-format", "json",
		"--ip-event-rate", "0", "--ip-req-rate", "0", "--unknown-event-rate", "100000", "--unknown-event-burst", "100000",
		"--trusted-event-rate", "100000", "--trusted-event-burst", "100000")
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: new(strings.Builder), mu: new(sync.Mutex), done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "relay listening" {
				addr <- rec["addr"].(string)
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case a := <-addr:
		p.url = "ws://" + a
	case err := <-p.done:
		t.Fatalf("relay exited at start: %v; logs:\n%s", err, p.logString())
	case <-time.After(30 * time.Second):
		t.Fatalf("relay did not start; logs:\n%s", p.logString())
	}
	return p
}

func TestCrashLosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildRelay(t)
	data := t.TempDir()
	p := start(t, bin, data)

	const conns, perConn = 8, 60
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	enough := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rl, err := nostr.RelayConnect(ctx, p.url)
			if err != nil {
				t.Errorf("connect: %v", err)
				return
			}
			defer rl.Close()
			sk := nostr.GeneratePrivateKey()
			for i := range perConn {
				evt := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: fmt.Sprintf("%d/%d", c, i)}
				_ = evt.Sign(sk)
				if err := rl.Publish(ctx, evt); err != nil {
					return // the relay was killed
				}
				mu.Lock()
				acked = append(acked, evt.ID)
				if len(acked) >= conns*perConn/2 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-enough:
	case <-ctx.Done():
		t.Fatal("publishing stalled")
	}
	// Kill while publishers are still sending.
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	wg.Wait()
	mu.Lock()
	want := append([]string(nil), acked...)
	mu.Unlock()

	p2 := start(t, bin, data)
	rl, err := nostr.RelayConnect(ctx, p2.url)
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	found := map[string]bool{}
	for i := 0; i < len(want); i += 200 {
		batch := want[i:min(i+200, len(want))]
		evts, err := rl.QuerySync(ctx, nostr.Filter{IDs: batch, Limit: len(batch)})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evts {
			found[e.ID] = true
		}
	}
	missing := 0
	for _, id := range want {
		if !found[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged events lost after SIGKILL", missing, len(want))
	}
	t.Logf("all %d acknowledged events survived SIGKILL", len(want))
}

func TestSIGTERMShutsDownCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildRelay(t)
	data := t.TempDir()
	p := start(t, bin, data)
	rl, err := nostr.RelayConnect(t.Context(), p.url)
	if err != nil {
		t.Fatal(err)
	}
	sk := nostr.GeneratePrivateKey()
	evt := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: "before shutdown"}
	_ = evt.Sign(sk)
	if err := rl.Publish(t.Context(), evt); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("relay did not exit after SIGTERM")
	}
	p.mu.Lock()
	logs := p.logs.String()
	p.mu.Unlock()
	if !strings.Contains(logs, `"msg":"relay stopped"`) {
		t.Fatalf("no clean stop in logs:\n%s", logs)
	}
	info, err := os.Stat(filepath.Join(data, "relay.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("relay key: %v, mode %v", err, info.Mode().Perm())
	}
	p2 := start(t, bin, data)
	rl2, err := nostr.RelayConnect(t.Context(), p2.url)
	if err != nil {
		t.Fatal(err)
	}
	defer rl2.Close()
	got, err := rl2.QuerySync(t.Context(), nostr.Filter{IDs: []string{evt.ID}})
	if err != nil || len(got) != 1 {
		t.Fatalf("event after restart: %v %v", got, err)
	}
}

func TestBinaryServesPagesAndTestMoney(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p := start(t, buildRelay(t), t.TempDir())
	base := "http" + strings.TrimPrefix(p.url, "ws")
	get := func(path string, header map[string]string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", base+path, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/", nil); code != 200 || !strings.Contains(strings.ToLower(body), "<html") {
		t.Fatalf("GET / = %d", code)
	}
	if code, _ := get("/admin/api/stats", nil); code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Fatalf("dashboard API without the operator key = %d", code)
	}
	_, body := get("/", map[string]string{"Accept": "application/nostr+json"})
	var info struct {
		TestMoney  bool            `json:"test_money"`
		Mints      []string        `json:"mints"`
		Fees       json.RawMessage `json:"fees"`
		Limitation struct {
			PaymentRequired bool `json:"payment_required"`
		} `json:"limitation"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil || !info.TestMoney || len(info.Mints) != 1 {
		t.Fatalf("NIP-11 test_money %v mints %v (%v)", info.TestMoney, info.Mints, err)
	}
	// No fee is set by default: the relay is free and says so.
	if info.Limitation.PaymentRequired || info.Fees != nil {
		t.Fatalf("NIP-11 of a free relay: payment_required %v fees %s", info.Limitation.PaymentRequired, info.Fees)
	}
}

// TestBinaryRefusesNewerDatabase: a data directory written by a newer
// binary (its schema version beyond the newest migration this one knows)
// stops the start with a message that says so, and the database is left
// as it was.
func TestBinaryRefusesNewerDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildRelay(t)
	data := t.TempDir()
	stop(t, start(t, bin, data))
	dbPath := filepath.Join(data, "events.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_version (version, name) VALUES (999, '0999_from_the_future.sql')`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--listen", "127.0.0.1:0", "--data", data).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("start on a newer database: %v, want a non-zero exit; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "newer than this binary") || !strings.Contains(string(out), "999") {
		t.Fatalf("the refusal does not say why:\n%s", out)
	}
	db, err = sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil || v != 999 {
		t.Fatalf("schema version after the refused start: %d %v", v, err)
	}
}

// The operator's key (--operator, npub or hex) is a trust seed besides
// --trust-seeds, which add to it and to the relay's own key.
func TestOperatorIsATrustSeed(t *testing.T) {
	const op = "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6"
	const opHex = "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d"
	const seed = "82341f882b6eabcd2ba7f1ef90aad961cf074af15b9ef44a09f9d2a8fbfbe6a2"
	c, err := parseConfig([]string{"--operator", op, "--trust-seeds", seed}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.market.Operator != opHex || len(c.market.Seeds) != 1 || c.market.Seeds[0] != seed {
		t.Fatalf("operator %q seeds %q; want operator %s and seeds [%s]", c.market.Operator, c.market.Seeds, opHex, seed)
	}
	if d, _ := parseConfig(nil, func(string) string { return "" }, io.Discard); d.market.Operator != "" {
		t.Fatalf("default operator seed %q, want none (the relay's own key is always one)", d.market.Operator)
	}
}
