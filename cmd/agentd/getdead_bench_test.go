package main

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/internal/sqlitedb"
)

// BenchmarkBinaryGetAfterKill, through the real binaries (meshrelay with
// its dev mint, three agentd provide daemons on loopback TCP and QUIC, the
// agentd CLI): a 3 MiB file on 3 providers (2+1) loses the first provider
// the buyer's record of it names, the one a get asks first (SIGKILL: its
// TCP port refuses, its QUIC port swallows the handshake). Each iteration
// runs, as new processes, `store get` (to a pipe), and reports the time
// from the get's start to its first byte and to its end; a `store audit`
// is timed once per binary first (the manifest has a proof round for each
// of the first three audits after the put's).
//
// AGENTD_BINS=label=path,... runs each of those agentd binaries in turn in
// every iteration (side by side, on the same providers); without it the
// binary is built from this package.
func BenchmarkBinaryGetAfterKill(b *testing.B) {
	relayBin := buildBin(b, "../meshrelay", "meshrelay")
	type bin struct{ label, path string }
	var bins []bin
	if v := os.Getenv("AGENTD_BINS"); v != "" {
		for _, f := range strings.Split(v, ",") {
			l, p, ok := strings.Cut(f, "=")
			if !ok {
				b.Fatalf("AGENTD_BINS: %q is not label=path", f)
			}
			bins = append(bins, bin{l, p})
		}
	} else {
		bins = []bin{{"this", buildBin(b, ".", "agentd")}}
	}
	agentBin := bins[len(bins)-1].path
	dir := b.TempDir()
	_, envFor, provs := startStorageNet(b, relayBin, agentBin, dir, 3)
	buyer := filepath.Join(dir, "buyer")
	run := func(bin string, args ...string) string {
		cmd := exec.CommandContext(b.Context(), bin, args...)
		cmd.Env = envFor(buyer)
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("agentd %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(agentBin, "wallet", "deposit", "20000")
	blob := make([]byte, 3<<20+12345)
	rand.Read(blob)
	file := filepath.Join(dir, "photo.bin")
	if err := os.WriteFile(file, blob, 0o600); err != nil {
		b.Fatal(err)
	}
	root := strings.TrimSpace(run(agentBin, "store", "put", file))
	run(agentBin, "store", "audit", root) // the put's own round
	first := firstProvider(b, filepath.Join(buyer, "agentd.db"), root)
	provs[first].kill()

	audit := make([]time.Duration, len(bins))
	for i, bn := range bins[:min(len(bins), 3)] {
		start := time.Now()
		ac := exec.CommandContext(b.Context(), bn.path, "store", "audit", root)
		ac.Env = envFor(buyer)
		aout, _ := ac.CombinedOutput() // fails: the dead provider fails its proofs
		if !strings.Contains(string(aout), first+"  proved 0") {
			b.Fatalf("%s: audit does not report the dead provider:\n%s", bn.label, aout)
		}
		audit[i] = time.Since(start)
	}
	ttfb := make([]time.Duration, len(bins))
	total := make([]time.Duration, len(bins))
	b.ResetTimer()
	for range b.N {
		for i, bn := range bins {
			cmd := exec.CommandContext(b.Context(), bn.path, "store", "get", root)
			cmd.Env = envFor(buyer)
			out, err := cmd.StdoutPipe()
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			r := bufio.NewReader(out)
			if _, err := r.Peek(1); err != nil {
				b.Fatalf("%s: store get wrote nothing: %v", bn.label, err)
			}
			ttfb[i] += time.Since(start)
			n, _ := io.Copy(io.Discard, r)
			if err := cmd.Wait(); err != nil || n != int64(len(blob)) {
				b.Fatalf("%s: store get: %d bytes, %v", bn.label, n, err)
			}
			total[i] += time.Since(start)
		}
	}
	b.StopTimer()
	for i, bn := range bins {
		b.ReportMetric(float64(ttfb[i].Milliseconds())/float64(b.N), "ms-first-byte-"+bn.label)
		b.ReportMetric(float64(total[i].Milliseconds())/float64(b.N), "ms-get-"+bn.label)
		b.ReportMetric(float64(audit[i].Milliseconds()), "ms-audit-"+bn.label)
	}
}

// firstProvider returns the first provider the buyer's record of file root
// names (its SafeBox entry's order: the one a get asks first).
func firstProvider(b *testing.B, dbPath, root string) string {
	b.Helper()
	db, err := sqlitedb.Open(b.Context(), dbPath, "agentd")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var p string
	if err := db.QueryRowContext(b.Context(), `SELECT providers FROM files WHERE root = ?`, root).Scan(&p); err != nil {
		b.Fatalf("file %s: %v", root, err)
	}
	var provs []string
	if err := json.Unmarshal([]byte(p), &provs); err != nil || len(provs) == 0 {
		b.Fatalf("file %s: providers %q: %v", root, p, err)
	}
	return provs[0]
}
