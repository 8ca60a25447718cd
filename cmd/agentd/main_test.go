package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/internal/settings"
	"github.com/sovmesh/sovmesh/transport"
)

func TestParseConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "agentd.conf")
	os.WriteFile(file, []byte("# comment\nreplicas = 5\nduration = 48h\nrelay = ws://file.example\n"), 0o600)
	env := map[string]string{"SOVMESH_REPLICAS": "4", "SOVMESH_CONFIG": file, "SOVMESH_PASSPHRASE": "pw"}
	c, pos, err := parseConfig([]string{"store", "get", "ROOT", "-o", "out.bin", "--replicas", "2"}, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.replicas != 2 || c.duration != 48*time.Hour || c.node.Relays[0] != "ws://file.example" || c.output != "out.bin" || c.node.Passphrase != "pw" {
		t.Fatalf("%+v", c)
	}
	if strings.Join(pos, " ") != "store get ROOT" {
		t.Fatalf("positional %v", pos)
	}
	for _, bad := range [][]string{{"--replicas", "0", "status"}, {"--tier", "x", "status"}, {"--relay", "http://x", "status"}, {"--nope", "status"}} {
		if _, _, err := parseConfig(bad, func(string) string { return "" }); err == nil {
			t.Fatalf("%v accepted", bad)
		}
	}
	if n, err := parseSize("1.5GiB"); err != nil || n != 3<<29 {
		t.Fatalf("parseSize: %d %v", n, err)
	}
	if _, err := parseSize("-3MB"); err == nil {
		t.Fatal("negative size accepted")
	}
}

func TestCommands(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	// One storage provider, in process.
	pn := net.Node(t, "provider", 0)
	p, err := provider.New(pn, provider.Config{Storage: &provider.StorageConfig{Quota: 1 << 30, PriceMsat: 2_000_000}})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(pctx) }()
	defer func() { stop(); <-done }()
	for range 200 {
		if _, ok := p.Offer("storage"); ok {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	data := filepath.Join(t.TempDir(), "agent")
	env := map[string]string{
		"SOVMESH_DATA":     data,
		"SOVMESH_RELAY":    net.Relay,
		"SOVMESH_MINT":     net.Mint.URL(),
		"SOVMESH_LISTEN":   strings.Join(transport.LoopbackListenAddrs, ","),
		"SOVMESH_REPLICAS": "1",
	}
	cli := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(ctx, args, envOf(env), strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
	out, errs, code := cli("keys", "show")
	if code != 0 || !strings.Contains(out, "npub1") || !strings.Contains(errs, "created a new key") {
		t.Fatalf("keys show: %d %q %q", code, out, errs)
	}
	if _, errs, code = cli("wallet", "deposit", "500"); code != 0 {
		t.Fatalf("deposit: %s", errs)
	}
	if out, _, _ = cli("wallet", "balance"); !strings.HasPrefix(out, "500 sats") {
		t.Fatalf("balance: %q", out)
	}
	file := filepath.Join(t.TempDir(), "in.bin")
	blob := make([]byte, 3<<20)
	rand.Read(blob)
	os.WriteFile(file, blob, 0o600)
	out, errs, code = cli("store", "put", file)
	if code != 0 {
		t.Fatalf("put: %s", errs)
	}
	root := strings.TrimSpace(out)
	if !strings.Contains(errs, "100%") {
		t.Fatalf("no progress bar: %q", errs)
	}
	dst := filepath.Join(t.TempDir(), "out.bin")
	if _, errs, code = cli("store", "get", root, "-o", dst); code != 0 {
		t.Fatalf("get: %s", errs)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, blob) {
		t.Fatal("file differs")
	}
	if _, _, code = cli("store", "get", strings.Repeat("ab", 32), "-o", dst+"2"); code == 0 {
		t.Fatal("unknown root fetched")
	}
	if _, err := os.Stat(dst + "2"); err == nil {
		t.Fatal("a failed get left a file")
	}
	if out, errs, code = cli("store", "audit", root); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("audit: %d %q %q", code, out, errs)
	}
	out, _, code = cli("status")
	if code != 0 || !strings.Contains(out, "storage") || !strings.Contains(out, "PROVIDER") {
		t.Fatalf("status: %q", out)
	}
	if out, _, _ = cli("store", "ls"); !strings.Contains(out, "in.bin") {
		t.Fatalf("ls: %q", out)
	}
	if _, errs, code = cli("store", "rm", root); code != 0 {
		t.Fatalf("rm: %s", errs)
	}
	if _, _, code = cli("store", "get", root, "-o", dst+"3"); code == 0 {
		t.Fatal("a deleted file was fetched")
	}
	if out, _, _ = cli("store", "ls"); strings.Contains(out, "in.bin") {
		t.Fatalf("ls after rm: %q", out)
	}
	// The provider's earnings, through its own data dir.
	penv := map[string]string{"SOVMESH_DATA": pn.Config.DataDir, "SOVMESH_RELAY": net.Relay, "SOVMESH_MINT": net.Mint.URL()}
	var pout bytes.Buffer
	pn.Close() // one process per data dir
	if code := run(ctx, []string{"earnings"}, envOf(penv), strings.NewReader(""), &pout, &bytes.Buffer{}); code != 0 || !strings.Contains(pout.String(), "storage") {
		t.Fatalf("earnings: %q", pout.String())
	}
	if _, _, code = cli("bogus"); code != 2 {
		t.Fatal("unknown command not a usage error")
	}
}

// TestReadmeDocumentsEveryFlag: the README's agentd configuration table
// is exactly the flags, with their variables, defaults and meanings, and
// its command list is exactly agentd's.
func TestReadmeDocumentsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// Only agentd's own table counts: the relay's has rows of the same names.
	_, section, ok := strings.Cut(string(readme), "### agentd configuration")
	if !ok {
		t.Fatal("README has no agentd configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var rows []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| `--") {
			rows = append(rows, line)
		}
	}
	if want := flagTable(); strings.Join(rows, "\n") != want {
		t.Errorf("README agentd configuration table differs from the flags; want:\n%s", want)
	}
	var list bytes.Buffer
	printCommandList(&list)
	block := "    " + strings.ReplaceAll(strings.TrimSuffix(list.String(), "\n"), "\n", "\n    ")
	if !strings.Contains(string(readme), "\n"+block+"\n") {
		t.Errorf("README lacks the command list, indented 4 spaces:\n%s", block)
	}
}

// flagTable is the README's agentd flag table: one row per flag.
func flagTable() string {
	c := defaultConfig()
	fs := newFlagSet(&c)
	var rows []string
	fs.VisitAll(func(f *flag.Flag) {
		def := "`" + f.DefValue + "`"
		if f.DefValue == "" {
			def = "(none)"
		}
		_, usage := flag.UnquoteUsage(f)
		rows = append(rows, fmt.Sprintf("| `--%s` | `%s` | %s | %s |", f.Name, settings.EnvName(f.Name), def, usage))
	})
	return strings.Join(rows, "\n")
}
