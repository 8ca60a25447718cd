package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/internal/npmtest"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/agentd/providertest"
	"github.com/sovmesh/sovmesh/internal/syncbuf"
	"github.com/sovmesh/sovmesh/transport"
)

// mcpRun is what testdata/mcpclient/client.mjs prints.
type mcpRun struct {
	Server struct{ Name string }
	Tools  []struct {
		Name, Description         string
		InputSchema, OutputSchema map[string]any
	}
	Results []struct {
		Name       string
		IsError    bool
		Structured map[string]any
		Text       string
	}
	WrongKey, NoKey *string
}

// result returns the structured output of the i-th call, failing the test
// if it is not tool's or failed.
func (r mcpRun) result(t *testing.T, i int, tool string) map[string]any {
	t.Helper()
	if i >= len(r.Results) || r.Results[i].Name != tool || r.Results[i].IsError {
		t.Fatalf("call %d (%s): %+v", i, tool, r.Results)
	}
	return r.Results[i].Structured
}

// mcpClientDir holds client.mjs and its lock file.
var mcpClientDir = filepath.Join("testdata", "mcpclient")

// needMCPClient returns node, skipping the test when node or the npm
// package is missing, unless SOVMESH_REQUIRE_NPM is set (as .ci/run sets it
// after npm ci).
func needMCPClient(t *testing.T) string {
	t.Helper()
	return npmtest.Node(t, mcpClientDir, "@modelcontextprotocol/sdk")
}

// mcpClient runs testdata/mcpclient/client.mjs with node: the official MCP
// TypeScript client.
func mcpClient(t *testing.T, node string, env []string, args ...string) mcpRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"client.mjs"}, args...)...)
	cmd.Dir = mcpClientDir
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client.mjs %s: %v\n%s", args[0], err, stderr.String())
	}
	var out mcpRun
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("client.mjs printed %q: %v\n%s", b, err, stderr.String())
	}
	return out
}

func calls(cs ...map[string]any) string {
	b, _ := json.Marshal(cs)
	return string(b)
}

func tool(name string, args map[string]any) map[string]any {
	return map[string]any{"name": name, "arguments": args}
}

// TestMCPTypeScriptClient: the official MCP TypeScript client drives the
// agentd binary, over stdio (it starts "agentd mcp" itself) and over
// streamable HTTP on loopback with the bearer key from a 0600 file, against
// a real relay, the dev mint and a real provider. It lists the ten tools,
// each with input and output schemas (which the client checks results
// against), reads the wallet and the budgets, finds the provider's offer,
// stores a file and fetches it back (paid: the wallet and the day's budget
// show it in the next process), and asks the model. Over HTTP a wrong key
// and no key are refused, and the key never appears in the log.
func TestMCPTypeScriptClient(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	node := needMCPClient(t)
	bin := buildBin(t, ".", "agentd")
	mnet := agentdtest.Start(t)
	llm := agentdtest.StartLLM(t, "tiny", []string{"paid", "in", "ecash"}, 0)
	prov := providertest.Start(t, mnet, "provider", provider.Config{
		Storage:   &provider.StorageConfig{Quota: 1 << 30, PriceMsat: 1_000_000, Retention: 30 * 86400},
		Inference: &provider.InferenceConfig{URL: llm.URL, PriceInMsat: 1_000_000, PriceOutMsat: 1_000_000},
	})
	// The agent's key and 3000 sats, made in process; the binary opens them.
	cfg := mnet.Config("agent")
	n, err := agentd.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Wallet.Fund(t.Context(), 3000); err != nil {
		t.Fatal(err)
	}
	agentPub := n.Key.Pubkey
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "SOVMESH_DATA="+cfg.DataDir, "SOVMESH_RELAY="+mnet.Relay, "SOVMESH_MINT="+mnet.Mint.URL(),
		"SOVMESH_LISTEN="+strings.Join(transport.LoopbackListenAddrs, ","), "SOVMESH_PASSPHRASE=", "SOVMESH_REPLICAS=1",
		"SOVMESH_MIN_PROVIDERS=1", "SOVMESH_BUDGET_PER_DAY=2500", "SOVMESH_MCP_KEY=", "SOVMESH_MCP_LISTEN=", "SOVMESH_MCP_KEY_FILE=")
	const text = "stored by a TypeScript agent"

	// stdio: the client starts "agentd mcp" itself.
	run := mcpClient(t, node, env, "stdio", bin, calls(
		tool("wallet", nil),
		tool("budgets", nil),
		tool("search_offers", map[string]any{"resource": "storage"}),
		tool("store_put", map[string]any{"name": "ts.txt", "content": text}),
		tool("store_get", map[string]any{"root": "$root"}),
		tool("ask_model", map[string]any{"model": "tiny", "prompt": "how are you paid?", "max_tokens": 50}),
		tool("search_offers", map[string]any{"resource": "gold"}),
	))
	if run.Server.Name != "sovmesh-agentd" || len(run.Tools) != 10 {
		t.Fatalf("server %+v lists %d tools, want 10", run.Server, len(run.Tools))
	}
	for _, tl := range run.Tools {
		if tl.Description == "" || tl.InputSchema["type"] != "object" || tl.OutputSchema["type"] != "object" {
			t.Errorf("tool %s: description %q, input schema %v, output schema %v", tl.Name, tl.Description, tl.InputSchema, tl.OutputSchema)
		}
	}
	if w := run.result(t, 0, "wallet"); w["balance_sats"] != 3000.0 || w["pubkey"] != agentPub {
		t.Fatalf("wallet %v, want 3000 sats of %s", w, agentPub)
	}
	if b := run.result(t, 1, "budgets"); b["per_day_sats"] != 2500.0 || b["spent_today_sats"] != 0.0 {
		t.Fatalf("budgets %v", b)
	}
	offers, _ := run.result(t, 2, "search_offers")["offers"].([]any)
	if len(offers) != 1 || offers[0].(map[string]any)["provider"] != prov.Key.Pubkey {
		t.Fatalf("storage offers %v, want the provider's", offers)
	}
	root, _ := run.result(t, 3, "store_put")["root"].(string)
	if got := run.result(t, 4, "store_get"); got["content"] != text || got["root"] != root {
		t.Fatalf("store_get %v, want %q", got, text)
	}
	if a := run.result(t, 5, "ask_model"); strings.Join(strings.Fields(a["content"].(string)), " ") != "paid in ecash" || a["provider"] != prov.Key.Pubkey {
		t.Fatalf("ask_model %v", a)
	}
	if r := run.Results[6]; !r.IsError || !strings.Contains(r.Text, "gold") {
		t.Fatalf("a bad resource: %+v", r)
	}

	// Streamable HTTP on loopback, the key from a 0600 file.
	key := "k3y-" + strings.Repeat("7", 40)
	keyFile := filepath.Join(t.TempDir(), "mcp.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, logs := startMCPHTTP(t, bin, env, keyFile)
	run = mcpClient(t, node, env, "http", url, key, calls(
		tool("wallet", nil),
		tool("budgets", nil),
		tool("store_ls", nil),
		tool("search_offers", map[string]any{"resource": "inference", "model": "tiny"}),
	))
	if run.WrongKey == nil || run.NoKey == nil {
		t.Fatalf("connected with a wrong key (%v) or none (%v)", run.WrongKey, run.NoKey)
	}
	t.Logf("wrong key refused: %s; no key refused: %s", *run.WrongKey, *run.NoKey)
	if len(run.Tools) != 10 {
		t.Fatalf("%d tools over HTTP", len(run.Tools))
	}
	w := run.result(t, 0, "wallet")
	b := run.result(t, 1, "budgets")
	if bal := w["balance_sats"].(float64); bal >= 3000 || b["spent_today_sats"].(float64) == 0 || bal+b["spent_today_sats"].(float64) < 3000 {
		t.Fatalf("after a paid put and question: wallet %v, budgets %v", w, b)
	}
	files, _ := run.result(t, 2, "store_ls")["files"].([]any)
	if !slices.ContainsFunc(files, func(f any) bool { return f.(map[string]any)["root"] == root }) {
		t.Fatalf("store_ls %v lacks %s", files, root)
	}
	if offers, _ := run.result(t, 3, "search_offers")["offers"].([]any); len(offers) != 1 {
		t.Fatalf("inference offers %v", offers)
	}
	if strings.Contains(logs.String(), key) {
		t.Fatal("the bearer key is in the log")
	}
}

// startMCPHTTP starts "agentd mcp --mcp-listen 127.0.0.1:0" and returns
// its URL (from the line it logs) and its log; the process is stopped with
// SIGTERM when the test ends.
func startMCPHTTP(t *testing.T, bin string, env []string, keyFile string) (string, *syncbuf.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, "mcp", "--mcp-listen", "127.0.0.1:0", "--mcp-key-file", keyFile)
	cmd.Env = env
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	found := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		re := regexp.MustCompile(`MCP \(streamable HTTP\) on (http://\S+/)`)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		<-scanned
		if err := cmd.Wait(); err != nil && !errors.As(err, new(*exec.ExitError)) {
			t.Errorf("agentd mcp: %v", err)
		}
	})
	select {
	case url := <-found:
		return url, logs
	case <-scanned:
		t.Fatalf("agentd mcp exited:\n%s", logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("agentd mcp did not listen in 60 s:\n%s", logs.String())
	}
	return "", nil
}

// TestMCPRefusesBadSettings: --mcp-listen off loopback, or with no key, or
// a key file others can read, stops agentd mcp before it opens anything,
// naming the problem and never the key.
func TestMCPRefusesBadSettings(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open.key")
	if err := os.WriteFile(open, []byte("a-secret-key-of-some-length"), 0o644); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"all interfaces", nil, []string{"--mcp-listen", "0.0.0.0:8089"}, "want a loopback address"},
		{"no key", nil, []string{"--mcp-listen", "127.0.0.1:0"}, "needs a bearer key"},
		{"key file readable by others", nil, []string{"--mcp-listen", "127.0.0.1:0", "--mcp-key-file", open}, "chmod 600"},
		{"short key", nil, []string{"--mcp-listen", "127.0.0.1:0", "--mcp-key-file", short}, "at least 16"},
		{"arguments", nil, []string{"tools"}, "takes no arguments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"SOVMESH_DATA": filepath.Join(dir, "data")}
			_, stderr, code := runCLI(t, env, append([]string{"mcp"}, c.args...)...)
			if code == 0 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "a-secret-key") {
				t.Fatalf("exit %d, stderr %q, want %q", code, stderr, c.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
				t.Fatal("the data directory was created")
			}
		})
	}
}
