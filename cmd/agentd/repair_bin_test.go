package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/internal/syncbuf"
	"github.com/sovmesh/sovmesh/transport"
)

// daemon is a running binary whose stderr is kept.
type daemon struct {
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	done   chan struct{}
}

func startDaemon(t testing.TB, bin string, env []string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	d := &daemon{cmd: cmd, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { defer close(d.done); _ = cmd.Wait() }()
	t.Cleanup(d.kill)
	return d
}

// kill ends the process at once (SIGKILL, as a crash) and waits for it.
func (d *daemon) kill() {
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

// waitLog waits until the process logged something matching re and returns
// the first submatch (or the match).
func (d *daemon) waitLog(t testing.TB, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := rx.FindStringSubmatch(d.stderr.String()); m != nil {
			return m[len(m)-1]
		}
		select {
		case <-d.done:
			t.Fatalf("%s exited before logging %q:\n%s", d.cmd.Path, re, d.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q:\n%s", d.cmd.Path, re, d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startStorageNet starts meshrelay (its dev mint, limits no test reaches)
// and n `agentd provide` daemons of 256 MiB each under dir, and returns the
// relay, the environment of an agentd with data directory data on that
// network (loopback addresses, no passphrase, the relay's mint), and the
// providers by pubkey.
func startStorageNet(t testing.TB, relayBin, agentBin, dir string, n int) (*daemon, func(data string) []string, map[string]*daemon) {
	t.Helper()
	relay := startDaemon(t, relayBin, os.Environ(), "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "relay"), "--log-format", "json",
		"--ip-event-rate", "0", "--ip-req-rate", "0", "--unknown-event-rate", "100000", "--unknown-event-burst", "100000",
		"--trusted-event-rate", "100000", "--trusted-event-burst", "100000")
	var relayURL string
	relay.waitLog(t, `"msg":"relay listening"`)
	for _, line := range strings.Split(relay.stderr.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "relay listening" {
			relayURL = "ws://" + rec["addr"].(string)
		}
	}
	envFor := func(data string) []string {
		return append(os.Environ(), "SOVMESH_DATA="+data, "SOVMESH_RELAY="+relayURL,
			"SOVMESH_LISTEN="+strings.Join(transport.LoopbackListenAddrs, ","), "SOVMESH_PASSPHRASE=", "SOVMESH_MINT=")
	}
	provs := map[string]*daemon{}
	for i := range n {
		p := startDaemon(t, agentBin, envFor(filepath.Join(dir, "prov"+string(rune('a'+i)))), "provide", "--storage-size", "256MiB")
		pub := p.waitLog(t, `providing as ([0-9a-f]{64})`)
		p.waitLog(t, `offer published`)
		provs[pub] = p
	}
	return relay, envFor, provs
}

// TestBinaryRepair, through the real binaries (meshrelay with its dev mint,
// four agentd provide daemons, the agentd CLI): a file on 3 providers loses
// one (SIGKILL); store repair rebuilds its shards on the fourth, and says
// so; a second repair has nothing to do; an audit proves every shard; a
// second original provider is killed and the file still comes back. A
// second data directory holding only the key lists the file from its
// SafeBox entry on the relay (naming the new placement) and fetches it;
// with the relay down, store ls lists it from the local cache.
func TestBinaryRepair(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	relayBin := buildBin(t, "../meshrelay", "meshrelay")
	agentBin := buildBin(t, ".", "agentd")
	dir := t.TempDir()

	relay, envFor, provs := startStorageNet(t, relayBin, agentBin, dir, 4)
	cli := func(data string, args ...string) (string, string, error) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), agentBin, args...)
		cmd.Env = envFor(data)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	must := func(data string, args ...string) (string, string) {
		t.Helper()
		out, errs, err := cli(data, args...)
		if err != nil {
			t.Fatalf("agentd %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errs)
		}
		return out, errs
	}

	buyer := filepath.Join(dir, "buyer")
	must(buyer, "wallet", "deposit", "5000")
	blob := make([]byte, 3<<20+12345)
	rand.Read(blob)
	file := filepath.Join(dir, "photo.bin")
	if err := os.WriteFile(file, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := must(buyer, "store", "put", file)
	root := strings.TrimSpace(out)
	audited := func() []string {
		t.Helper()
		out, _ := must(buyer, "store", "audit", root)
		var holders []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 6 || f[5] != "ok" {
				t.Fatalf("audit line %q, want ok", line)
			}
			holders = append(holders, f[0])
		}
		return holders
	}
	holders := audited()
	if len(holders) != 3 {
		t.Fatalf("%d providers hold the file, want 3", len(holders))
	}
	var spare string
	for pub := range provs {
		if !strings.Contains(strings.Join(holders, " "), pub) {
			spare = pub
		}
	}

	provs[holders[0]].kill()
	out, errs := must(buyer, "store", "repair", root)
	if !regexp.MustCompile(`lost +`+holders[0]).MatchString(out) || !regexp.MustCompile(`rebuilt +\d+ chunks \(\d+ bytes\) of `+holders[0]+` on `+spare+`: [1-9]\d* sats`).MatchString(out) ||
		!strings.Contains(errs, "back to full redundancy") {
		t.Fatalf("repair output:\n%s\n%s", out, errs)
	}
	if out, errs = must(buyer, "store", "repair", root); out != "" || !strings.Contains(errs, "is healthy") {
		t.Fatalf("second repair:\n%s\n%s", out, errs)
	}
	now := audited()
	if len(now) != 3 || !strings.Contains(strings.Join(now, " "), spare) || strings.Contains(strings.Join(now, " "), holders[0]) {
		t.Fatalf("after repair the file is on %v, want the spare %s instead of %s", now, spare, holders[0])
	}

	// A second loss, within what the code survives again.
	provs[holders[1]].kill()
	dst := filepath.Join(dir, "out.bin")
	must(buyer, "store", "get", root, "-o", dst)
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, blob) {
		t.Fatal("file differs after repair and a second loss")
	}

	// The same key in a second data directory: listed from the relay, read
	// from the placement its SafeBox entry names.
	again := filepath.Join(dir, "again")
	if err := os.MkdirAll(filepath.Join(again, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	keys, _ := os.ReadDir(filepath.Join(buyer, "keys"))
	for _, k := range keys {
		b, _ := os.ReadFile(filepath.Join(buyer, "keys", k.Name()))
		if err := os.WriteFile(filepath.Join(again, "keys", k.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, _ = must(again, "store", "ls"); !regexp.MustCompile(root + ` +photo\.bin +\d+ +3 +.* relay\n`).MatchString(out) {
		t.Fatalf("ls in a second data dir:\n%s", out)
	}
	must(again, "wallet", "deposit", "2000")
	dst2 := filepath.Join(dir, "out2.bin")
	must(again, "store", "get", root, "-o", dst2)
	if got, _ := os.ReadFile(dst2); !bytes.Equal(got, blob) {
		t.Fatal("file differs from the second data dir")
	}

	// No relay: listed from the local cache.
	relay.kill()
	out, errs = must(buyer, "store", "ls")
	if !regexp.MustCompile(root+` +photo\.bin +\d+ +3 +.* cache\n`).MatchString(out) || !strings.Contains(errs, "no relay answered") {
		t.Fatalf("ls with the relay down:\n%s\n%s", out, errs)
	}
}
