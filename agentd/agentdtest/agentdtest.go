// Package agentdtest starts what agentd's tests run against, all real and
// on 127.0.0.1: a relay, the dev mint (TEST MONEY), a proxy that takes the
// mint down and brings it back, funded nodes, and a stand-in for a language
// model (an OpenAI-compatible HTTP server that streams canned words with
// usage; the only stand-in, since no model runs here).
package agentdtest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/relay/relaytest"
	"github.com/sovmesh/sovmesh/transport"
)

// Net is a relay and a mint.
type Net struct {
	Relay string
	Mint  *devmint.Mint
	Dir   string
}

// Start runs a relay and a dev mint for the test.
func Start(t testing.TB) *Net {
	t.Helper()
	dir := t.TempDir()
	m, err := devmint.Start(context.Background(), filepath.Join(dir, "mint"), devmint.Options{})
	if err != nil {
		t.Fatalf("agentdtest: mint: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
	})
	return &Net{Relay: relaytest.Start(t), Mint: m, Dir: dir}
}

// Logger returns a logger that writes to stderr when AGENTD_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("AGENTD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// Config returns a node config for name on the net.
func (n *Net) Config(name string) agentd.Config {
	c := agentd.DefaultConfig()
	c.DataDir = filepath.Join(n.Dir, name)
	c.Relays = []string{n.Relay}
	c.Mints = []string{n.Mint.URL()}
	c.ListenAddrs = transport.LoopbackListenAddrs
	c.KeyLogN = 4
	// One LAN market per test net: nodes of other tests running at the
	// same time are not found by mDNS.
	c.MDNSService = fmt.Sprintf("sovmesh-%x", sha256.Sum256([]byte(n.Dir)))[:20]
	c.Logger = Logger()
	// Long enough for a loaded CI machine under -race, where a storage
	// answer can wait seconds for another stream's payment to be swapped
	// at the mint (5 s timed out there); failure tests detect dead
	// providers by their reset streams or the buyer's StallTimeout.
	c.StreamTimeout = 20 * time.Second
	c.PayTimeout = 10 * time.Second
	return c
}

// Node opens a node named name, funded with sats (0: none). It is closed
// when the test ends.
func (n *Net) Node(t testing.TB, name string, sats uint64) *agentd.Node {
	t.Helper()
	return n.NodeWith(t, name, sats, nil)
}

// NodeWith is Node with configure (if not nil) adjusting the config first.
func (n *Net) NodeWith(t testing.TB, name string, sats uint64, configure func(*agentd.Config)) *agentd.Node {
	t.Helper()
	cfg := n.Config(name)
	if configure != nil {
		configure(&cfg)
	}
	seedDatabases(t, cfg.DataDir)
	nd, err := agentd.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("agentdtest: node %s: %v", name, err)
	}
	t.Cleanup(func() { _ = nd.Close() })
	if sats > 0 {
		if err := nd.Wallet.Fund(context.Background(), sats); err != nil {
			t.Fatalf("agentdtest: fund %s: %v", name, err)
		}
	}
	return nd
}

// The databases agentd.Open creates in a new data directory, with every
// migration applied and no rows.
var dbFiles = []string{"pay.db", "agentd.db"}

// migrated holds the files of dbFiles as agentd's own openers
// (journal.Open, state.Open) leave them in an empty directory, made once
// per test binary: a node's data directory starts from copies of them, so
// the migrations, most of a node's start under -race (modernc SQLite
// parses the schema again after each step), run once per package instead
// of once per node. A data directory that already holds a database (a test
// of an upgrade or of a restart) is left as it is.
var migrated struct {
	once  sync.Once
	files map[string][]byte
	err   error
}

func migratedFiles() (map[string][]byte, error) {
	migrated.once.Do(func() {
		migrated.files, migrated.err = makeMigrated()
	})
	return migrated.files, migrated.err
}

func makeMigrated() (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "agentdtest-migrated-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	j, err := journal.Open(ctx, filepath.Join(dir, dbFiles[0]))
	if err != nil {
		return nil, err
	}
	db, err := state.Open(ctx, filepath.Join(dir, dbFiles[1]), j.DB())
	if err != nil {
		_ = j.Close()
		return nil, err
	}
	if err := errors.Join(db.Close(), j.Close()); err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, name := range dbFiles {
		// Closed: the WAL is checkpointed into the file and removed.
		if _, err := os.Stat(filepath.Join(dir, name+"-wal")); err == nil {
			return nil, fmt.Errorf("%s kept its WAL after closing", name)
		}
		if files[name], err = os.ReadFile(filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// seedDatabases writes the migrated databases into dir unless it holds
// one already.
func seedDatabases(t testing.TB, dir string) {
	t.Helper()
	for _, name := range dbFiles {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			return
		}
	}
	files, err := migratedFiles()
	if err != nil {
		t.Fatalf("agentdtest: migrated databases: %v", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range dbFiles {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// LLM is the stand-in language model: an OpenAI-compatible server that
// answers every chat completion with Words (streamed one per chunk, with
// a usage chunk at the end when asked), Delay apart.
type LLM struct {
	URL   string
	Model string
	Words []string
	Delay time.Duration
	// hangAfter, if > 0, makes the model stop answering (without closing
	// the connection) after that many chunks of each request.
	hangAfter atomic.Int64
	// Requests counts completions served.
	Requests atomic.Int64
	// Prompts records the last request's messages (JSON).
	mu      sync.Mutex
	last    []byte
	srv     *http.Server
	stopped chan struct{}
}

// HangAfter makes the model stop answering (its connection open) after n
// chunks of each request: a provider that stops answering mid-session.
func (l *LLM) HangAfter(n int) { l.hangAfter.Store(int64(n)) }

// LastMessages returns the messages of the last request.
func (l *LLM) LastMessages() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// StartLLM runs the stand-in model on 127.0.0.1.
func StartLLM(t testing.TB, model string, words []string, delay time.Duration) *LLM {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &LLM{URL: "http://" + ln.Addr().String() + "/v1", Model: model, Words: words, Delay: delay, stopped: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": []map[string]any{{"id": model, "object": "model"}}})
	})
	mux.HandleFunc("POST /v1/chat/completions", l.chat)
	l.srv = &http.Server{Handler: mux}
	go func() { defer close(l.stopped); _ = l.srv.Serve(ln) }()
	t.Cleanup(func() { _ = l.srv.Close(); <-l.stopped })
	return l
}

func (l *LLM) chat(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model         string          `json:"model"`
		Messages      json.RawMessage `json:"messages"`
		Stream        bool            `json:"stream"`
		MaxTokens     int             `json:"max_tokens"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != l.Model {
		http.Error(w, `{"error":{"message":"bad request or unknown model"}}`, http.StatusBadRequest)
		return
	}
	l.Requests.Add(1)
	l.mu.Lock()
	l.last = append([]byte(nil), req.Messages...)
	l.mu.Unlock()
	words := l.Words
	// A continuation (the last message is the assistant's partial answer)
	// resumes after the words already given.
	var msgs []struct{ Role, Content string }
	_ = json.Unmarshal(req.Messages, &msgs)
	continuing := false
	if k := len(msgs); k > 0 && msgs[k-1].Role == "assistant" {
		continuing = true
		have := len(strings.Fields(msgs[k-1].Content))
		words = words[min(have, len(words)):]
	}
	if req.MaxTokens > 0 && len(words) > req.MaxTokens {
		words = words[:req.MaxTokens]
	}
	prompt := len(req.Messages) / 4
	if !req.Stream {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "cmpl-standin", "object": "chat.completion", "model": l.Model,
			"choices": []map[string]any{{"index": 0, "message": map[string]any{"role": "assistant", "content": strings.Join(words, " ")}, "finish_reason": "stop"}},
			"usage":   map[string]any{"prompt_tokens": prompt, "completion_tokens": len(words), "total_tokens": prompt + len(words)},
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	for i, word := range words {
		if i > 0 || continuing {
			word = " " + word
		}
		delay := l.Delay
		if h := l.hangAfter.Load(); h > 0 && int64(i) >= h {
			delay = time.Hour
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(delay):
		}
		if !send(map[string]any{"id": "cmpl-standin", "object": "chat.completion.chunk", "model": l.Model,
			"choices": []map[string]any{{"index": 0, "delta": map[string]any{"content": word}}}}) {
			return
		}
	}
	send(map[string]any{"id": "cmpl-standin", "object": "chat.completion.chunk", "model": l.Model,
		"choices": []map[string]any{{"index": 0, "delta": map[string]any{}, "finish_reason": "stop"}}})
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		send(map[string]any{"id": "cmpl-standin", "object": "chat.completion.chunk", "model": l.Model, "choices": []any{},
			"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": len(words), "total_tokens": prompt + len(words)}})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if fl != nil {
		fl.Flush()
	}
}
