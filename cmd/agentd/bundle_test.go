package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/keystore"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/store"
)

// runProvider runs a storage provider on n until the returned stop.
func runProvider(t *testing.T, n *agentd.Node) (stop func()) {
	t.Helper()
	p, err := provider.New(n, provider.Config{Storage: &provider.StorageConfig{Quota: 1 << 30, PriceMsat: 2_000_000}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	// Bounded by time, not tries: a loaded machine may take seconds.
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if _, ok := p.Offer("storage"); ok {
			return stop
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("provider published no storage offer")
	return stop
}

// cheapKey creates the key of the data directory data at a low scrypt
// cost: every command decrypts it.
func cheapKey(t *testing.T, data string) {
	t.Helper()
	if _, _, err := keystore.Open(filepath.Join(data, "keys"), keystore.Options{LogN: 4}); err != nil {
		t.Fatal(err)
	}
}

// chunksIn counts the chunks in the data directory data.
func chunksIn(t *testing.T, data string) int {
	t.Helper()
	dir := filepath.Join(data, "chunks")
	if _, err := os.Stat(dir); err != nil {
		return 0
	}
	st, err := store.Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := st.Each(func(chunk.CID) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBundleCarriesChunks: a file stored on provider A alone; A goes away;
// its chunks are exported from A's data directory, checked and imported
// into provider B's (refused when unsigned by a trusted key or tampered
// with, nothing imported; importing twice stores nothing new); B serves
// them, and once the owner names B in A's place (bundle moved, refused
// while B lacks them) the buyer reads the file back through store get.
// With B gone too and the relay unreachable, the owner imports the bundle
// and store get reads the file from the local chunks.
func TestBundleCarriesChunks(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	a := net.Node(t, "provA", 0)
	stopA := runProvider(t, a)
	buyerEnv := map[string]string{
		"SOVMESH_DATA":     filepath.Join(t.TempDir(), "buyer"),
		"SOVMESH_RELAY":    net.Relay,
		"SOVMESH_MINT":     net.Mint.URL(),
		"SOVMESH_LISTEN":   strings.Join(transport.LoopbackListenAddrs, ","),
		"SOVMESH_REPLICAS": "1",
	}
	cli := func(env map[string]string, args ...string) (string, string, int) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(ctx, args, envOf(env), strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
	dataEnv := func(data string) map[string]string {
		return map[string]string{"SOVMESH_DATA": data, "SOVMESH_RELAY": net.Relay, "SOVMESH_MINT": net.Mint.URL()}
	}
	cheapKey(t, buyerEnv["SOVMESH_DATA"])
	if _, errs, code := cli(buyerEnv, "wallet", "deposit", "3000"); code != 0 {
		t.Fatalf("deposit: %s", errs)
	}
	blob := make([]byte, 2<<20+777)
	rand.Read(blob)
	file := filepath.Join(t.TempDir(), "doc.bin")
	os.WriteFile(file, blob, 0o600)
	out, errs, code := cli(buyerEnv, "store", "put", file)
	if code != 0 {
		t.Fatalf("put: %s", errs)
	}
	root := strings.TrimSpace(out)
	stopA()
	a.Close()

	aData := a.Config.DataDir
	bundle := filepath.Join(t.TempDir(), "bundle")
	if _, errs, code = cli(dataEnv(aData), "bundle", "export", root, bundle); code != 0 || !strings.Contains(errs, "exported 4 chunks") {
		t.Fatalf("export: %d %s", code, errs)
	}
	// B runs without the chunks: naming it in A's place is refused.
	bn := net.Node(t, "provB", 0)
	stopB := runProvider(t, bn)
	if _, errs, code = cli(buyerEnv, "bundle", "moved", root, a.Key.Pubkey, bn.Key.Pubkey); code != 1 || !strings.Contains(errs, "does not hold") {
		t.Fatalf("moved to a provider without the chunks: %d %s", code, errs)
	}
	if _, errs, code = cli(buyerEnv, "bundle", "moved", root, a.Key.Pubkey, strings.Repeat("ab", 32)); code != 1 || !strings.Contains(errs, "no storage offer") {
		t.Fatalf("moved to a provider with no offer: %d %s", code, errs)
	}
	stopB()
	bn.Close()
	bData := bn.Config.DataDir

	// Signed by A, whom B does not trust unless named.
	if _, errs, code = cli(dataEnv(bData), "bundle", "import", bundle); code != 1 || !strings.Contains(errs, "not trusted") || chunksIn(t, bData) != 0 {
		t.Fatalf("import of an untrusted bundle: %d %s; %d chunks", code, errs, chunksIn(t, bData))
	}
	// Tampered with: one chunk's byte flipped.
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.CopyFS(bad, os.DirFS(bundle)); err != nil {
		t.Fatal(err)
	}
	chunks, _ := os.ReadDir(filepath.Join(bad, "chunks"))
	p := filepath.Join(bad, "chunks", chunks[0].Name())
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 1
	os.WriteFile(p, b, 0o644)
	if _, errs, code = cli(dataEnv(bData), "bundle", "import", bad, a.Key.Pubkey); code != 1 || !strings.Contains(errs, "refused, nothing imported") ||
		!strings.Contains(errs, "does not match the manifest") || chunksIn(t, bData) != 0 {
		t.Fatalf("import of a tampered bundle: %d %s; %d chunks", code, errs, chunksIn(t, bData))
	}
	if _, errs, code = cli(dataEnv(bData), "bundle", "import", bundle, a.Key.Pubkey); code != 0 || !strings.Contains(errs, "4 stored, 0 already here") {
		t.Fatalf("import: %d %s", code, errs)
	}
	if _, errs, code = cli(dataEnv(bData), "bundle", "import", bundle, a.Key.Pubkey); code != 0 || !strings.Contains(errs, "0 stored, 4 already here") || chunksIn(t, bData) != 4 {
		t.Fatalf("second import: %d %s", code, errs)
	}

	// A is gone: the file cannot be read until B is named in its place.
	dst := filepath.Join(t.TempDir(), "out.bin")
	if _, _, code = cli(buyerEnv, "store", "get", root, "-o", dst); code == 0 {
		t.Fatal("file read with its only provider gone")
	}
	bn = net.Node(t, "provB", 0)
	stopB = runProvider(t, bn)
	if _, errs, code = cli(buyerEnv, "bundle", "moved", root, a.Key.Pubkey, bn.Key.Pubkey); code != 0 || !strings.Contains(errs, "holds the 3 chunks") {
		t.Fatalf("moved: %d %s", code, errs)
	}
	if _, errs, code = cli(buyerEnv, "store", "get", root, "-o", dst); code != 0 {
		t.Fatalf("get from B: %s", errs)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, blob) {
		t.Fatal("file read from B differs")
	}
	if out, _, _ = cli(buyerEnv, "store", "ls"); !strings.Contains(out, "doc.bin") {
		t.Fatalf("ls: %s", out)
	}

	// B gone too, and the relay out of reach: the owner imports the bundle
	// into its own data directory and reads the file from it with its key.
	stopB()
	bn.Close()
	buyerEnv["SOVMESH_RELAY"] = downURL(t, "ws")
	dst2 := filepath.Join(t.TempDir(), "local.bin")
	if _, _, code = cli(buyerEnv, "store", "get", root, "-o", dst2); code == 0 {
		t.Fatal("file read with every provider gone and no bundle imported")
	}
	if _, errs, code = cli(buyerEnv, "bundle", "import", bundle, a.Key.Pubkey); code != 0 || !strings.Contains(errs, "4 stored") {
		t.Fatalf("owner's import: %d %s", code, errs)
	}
	if _, errs, code = cli(buyerEnv, "store", "get", root, "-o", dst2); code != 0 || !strings.Contains(errs, "from the chunks in") {
		t.Fatalf("local get: %d %s", code, errs)
	}
	if got, _ := os.ReadFile(dst2); !bytes.Equal(got, blob) {
		t.Fatal("file read from the imported bundle differs")
	}
}
