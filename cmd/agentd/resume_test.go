package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/transport"
)

// stallProxy forwards TCP connections to a target, and stops forwarding
// what clients send once limit bytes have passed until release: a link
// that stalls mid-transfer. stalled is closed when it first holds data back.
type stallProxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	cond    *sync.Cond
	passed  int64
	limit   int64 // -1: released
	stalled chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func startStallProxy(t *testing.T, target string, limit int64) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target, limit: limit, stalled: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	var conns []net.Conn
	var connMu sync.Mutex
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			connMu.Lock()
			conns = append(conns, c, u)
			connMu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); p.pipe(u, c, true); u.Close(); c.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, u); u.Close(); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.release()
		connMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connMu.Unlock()
		p.wg.Wait()
	})
	return p
}

// pipe copies src to dst, holding back what passes the limit.
func (p *stallProxy) pipe(dst, src net.Conn, limited bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.limit >= 0 && p.passed+int64(n) > p.limit {
				p.once.Do(func() { close(p.stalled) })
				p.cond.Wait()
			}
			p.passed += int64(n)
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallProxy) release() {
	p.mu.Lock()
	p.limit = -1
	p.cond.Broadcast()
	p.mu.Unlock()
}

// countChunks counts the chunk files under a provider's data directory.
func countChunks(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, "chunks"), func(path string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) {
			return filepath.SkipDir
		}
		if err == nil && !d.IsDir() && filepath.Ext(path) == ".chunk" {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBinaryPutResumesAfterSIGKILL: "agentd store put" killed with SIGKILL
// mid-transfer leaves an unfinished put that "store ls" shows as
// incomplete; running the put again resumes it, the provider ends up
// holding the file's chunks once (no orphan from the killed attempt), and
// "store get" returns identical bytes.
func TestBinaryPutResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx := t.Context()
	bin := buildBin(t, ".", "agentd")
	net := agentdtest.Start(t)
	// The provider, in process, reached only through the stalling proxy.
	pn := net.Node(t, "provider", 0)
	if err := pn.StartHost(ctx); err != nil {
		t.Fatal(err)
	}
	var target string
	for _, a := range pn.Host.LibP2P().Addrs() {
		if ip, err := a.ValueForProtocol(4); err == nil { // ip4
			if port, err := a.ValueForProtocol(6); err == nil { // tcp
				target = ip + ":" + port
			}
		}
	}
	if target == "" {
		t.Fatalf("provider has no TCP address: %v", pn.Host.LibP2P().Addrs())
	}
	const size = 6<<20 + 100 // 7 chunks of 1 MiB
	proxy := startStallProxy(t, target, 3<<20+512<<10)
	_, port, _ := strings.Cut(proxy.ln.Addr().String(), ":")
	p, err := provider.New(pn, provider.Config{Storage: &provider.StorageConfig{Quota: 1 << 30, PriceMsat: 2_000_000, Retention: 30 * 86400},
		Endpoints: []string{"/ip4/127.0.0.1/tcp/" + port}})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(pctx) }()
	defer func() { stop(); <-done }()
	// Bounded by time, not tries: a loaded machine may take seconds.
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if _, ok := p.Offer("storage"); ok {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := p.Offer("storage"); !ok {
		t.Fatal("provider published no storage offer")
	}

	data := filepath.Join(t.TempDir(), "agent")
	env := []string{"SOVMESH_DATA=" + data, "SOVMESH_RELAY=" + net.Relay, "SOVMESH_MINT=" + net.Mint.URL(),
		"SOVMESH_LISTEN=" + transport.LoopbackListenAddrs[0], "SOVMESH_REPLICAS=1",
		// One stream: with several, the chunks in flight share the link
		// and none may be whole when it stalls.
		"SOVMESH_STREAMS=1"}
	agentd := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), env...)
		return cmd
	}
	if out, err := agentd("wallet", "deposit", "2000").CombinedOutput(); err != nil {
		t.Fatalf("deposit: %v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "in.bin")
	blob := make([]byte, size)
	rand.Read(blob)
	if err := os.WriteFile(file, blob, 0o600); err != nil {
		t.Fatal(err)
	}

	put := agentd("store", "put", file)
	var putErr bytes.Buffer
	put.Stderr = &putErr
	if err := put.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- put.Wait() }()
	select {
	case <-proxy.stalled:
	case err := <-exited:
		t.Fatalf("put ended before the link stalled: %v\n%s", err, putErr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("the link never stalled\n%s", putErr.String())
	}
	// Mid-transfer: the provider holds some of the file, not all of it.
	for i := 0; countChunks(t, pn.Config.DataDir) < 2; i++ {
		if i == 1000 {
			t.Fatal("the provider stored fewer than 2 chunks before the stall")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := put.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	before := countChunks(t, pn.Config.DataDir)
	if before >= 8 {
		t.Fatalf("the killed put stored %d chunks: it was not mid-transfer", before)
	}
	proxy.release()

	out, err := agentd("store", "ls").Output()
	if err != nil || !strings.Contains(string(out), "incomplete") || !strings.Contains(string(out), file) {
		t.Fatalf("store ls after the kill: %v\n%s", err, out)
	}
	resumed := agentd("store", "put", file)
	var resErr bytes.Buffer
	resumed.Stderr = &resErr
	out, err = resumed.Output()
	if err != nil {
		t.Fatalf("resumed put: %v\n%s", err, resErr.String())
	}
	root := strings.TrimSpace(string(out))
	if !strings.Contains(resErr.String(), "resuming unfinished put") {
		t.Fatalf("the second put did not resume:\n%s", resErr.String())
	}
	// 7 data chunks and the manifest, each once.
	if got := countChunks(t, pn.Config.DataDir); got != 8 {
		t.Fatalf("the provider holds %d chunks, want the file's 7 and its manifest", got)
	}
	if out, err := agentd("store", "ls").Output(); err != nil || strings.Contains(string(out), "incomplete") || !strings.Contains(string(out), root) {
		t.Fatalf("store ls after the resume: %v\n%s", err, out)
	}
	// Paid once: what the put's quote says (and the mint's fees), though
	// the killed attempt had paid ahead and the resumed one sent the rest.
	var quoted, balance uint64
	if _, err := fmt.Sscanf(resErr.String()[strings.Index(resErr.String(), " costs ")+1:], "costs %d sats", &quoted); err != nil {
		t.Fatalf("no quote in the put's output: %v\n%s", err, resErr.String())
	}
	if out, err := agentd("wallet", "balance").Output(); err != nil {
		t.Fatal(err)
	} else if _, err := fmt.Sscanf(string(out), "%d sats", &balance); err != nil {
		t.Fatalf("balance %q: %v", out, err)
	}
	if spent := 2000 - balance; spent > quoted+quoted/20 {
		t.Fatalf("spent %d sats on a put quoted %d", spent, quoted)
	} else {
		t.Logf("spent %d sats on a put quoted %d", spent, quoted)
	}
	dst := filepath.Join(t.TempDir(), "out.bin")
	if out, err := agentd("store", "get", root, "-o", dst).CombinedOutput(); err != nil {
		t.Fatalf("get: %v\n%s", err, out)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("the file read back differs (%v)", err)
	}
}
