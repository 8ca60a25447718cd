package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/transport"
)

// bigFileSize is the file TestBigFileThroughBinaries stores. CI runs the
// default; the size is -args -bigfile-size 256MiB (docs/benchmarks.md).
var bigFileSize = flag.String("bigfile-size", "96MiB", "TestBigFileThroughBinaries: size of the file stored")

// startProvide runs `agentd provide` selling storage and waits for its offer.
func startProvide(t *testing.T, bin string, env []string) *daemon {
	t.Helper()
	d := startDaemon(t, bin, env, "provide")
	d.waitLog(t, "offer published")
	return d
}

// writeRandomFile writes size pseudo-random bytes to path, returning their
// SHA-256 (the file is never held in memory).
func writeRandomFile(t *testing.T, path string, size int64) [32]byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{7})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(int64(len(buf)), left)
		_, _ = rng.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		left -= n
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// TestBigFileThroughBinaries (issue 13, point 7): agentd binaries, three
// storage providers and a buyer (the relay and the dev mint run in the
// test): a put of a large file on the three; a get during which one
// provider is SIGKILLed returns identical bytes; and once a second provider
// is gone, a get fails within 30 s, saying the file is unrecoverable.
func TestBigFileThroughBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds agentd and moves a large file through four processes")
	}
	size, err := parseSize(*bigFileSize)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildBin(t, ".", "agentd")
	net := agentdtest.Start(t)
	base := []string{
		"SOVMESH_RELAY=" + net.Relay, "SOVMESH_MINT=" + net.Mint.URL(),
		"SOVMESH_LISTEN=" + strings.Join(transport.LoopbackListenAddrs, ","),
		"SOVMESH_BUDGET_PER_DAY=0", "SOVMESH_BUDGET_PER_COUNTERPARTY=0",
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
	}
	var provs []*daemon
	for i := range 3 {
		env := append(base[:len(base):len(base)], "SOVMESH_DATA="+filepath.Join(t.TempDir(), "provider"),
			fmt.Sprintf("SOVMESH_STORAGE_SIZE=%d", 2*size), fmt.Sprintf("SOVMESH_STORAGE_PRICE=%d", 2_000_000+i*1000))
		provs = append(provs, startProvide(t, bin, env))
	}
	buyerEnv := append(base[:len(base):len(base)], "SOVMESH_DATA="+filepath.Join(t.TempDir(), "buyer"),
		"SOVMESH_REPLICAS=3", "SOVMESH_MIN_PROVIDERS=3", "SOVMESH_DURATION=24h")
	cli := func(ctx context.Context, stdout io.Writer, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = buyerEnv
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = stdout, &stderr
		err := cmd.Run()
		return stderr.String(), err
	}
	ctx := t.Context()
	if errs, err := cli(ctx, io.Discard, "wallet", "deposit", "200000"); err != nil {
		t.Fatalf("deposit: %v\n%s", err, errs)
	}
	file := filepath.Join(t.TempDir(), "big.bin")
	want := writeRandomFile(t, file, size)
	var out bytes.Buffer
	start := time.Now()
	if errs, err := cli(ctx, &out, "store", "put", file); err != nil {
		t.Fatalf("put: %v\n%s", err, errs)
	}
	putTime := time.Since(start)
	_ = os.Remove(file)
	root := strings.TrimSpace(out.String())

	// Get to a pipe, hashed as it comes; a quarter in, stop reading (the get
	// blocks on its output, most of the file still to fetch), SIGKILL a
	// provider, read on.
	gctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(gctx, bin, "store", "get", root)
	cmd.Env = buyerEnv
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.CopyN(h, pipe, size/4)
	if err != nil {
		t.Fatalf("get: %d bytes then %v", n, err)
	}
	provs[0].kill()
	rest, err := io.Copy(h, pipe)
	if werr := cmd.Wait(); werr != nil || err != nil {
		t.Fatalf("get with a provider killed: %v %v\n%s", werr, err, stderr.String())
	}
	getTime := time.Since(start)
	if n+rest != size || [32]byte(h.Sum(nil)) != want {
		t.Fatalf("get returned %d bytes, other than the %d put", n+rest, size)
	}
	t.Logf("%d MiB: put %v (%.0f MB/s), get with a provider killed after a quarter %v (%.0f MB/s)", size>>20,
		putTime.Round(time.Millisecond), float64(size)/putTime.Seconds()/1e6, getTime.Round(time.Millisecond), float64(size)/getTime.Seconds()/1e6)

	// Two of three gone: more than the parity covers.
	provs[1].kill()
	uctx, ucancel := context.WithTimeout(ctx, 30*time.Second)
	defer ucancel()
	start = time.Now()
	errs, err := cli(uctx, io.Discard, "store", "get", root)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || uctx.Err() != nil {
		t.Fatalf("unrecoverable get: %v after %v (want a failure within 30 s)\n%s", err, time.Since(start), errs)
	}
	if !strings.Contains(errs, "unrecoverable") {
		t.Fatalf("unrecoverable get failed without saying why: %q", errs)
	}
	t.Logf("unrecoverable get failed after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(errs))
}
