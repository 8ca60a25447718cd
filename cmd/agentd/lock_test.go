package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
)

// TestDataDirLock: while a daemon holds the data directory, a second
// command that would write (a payment) is refused naming the holder, and
// read-only commands work beside it. The directory and its databases are
// private afterwards, though they were made world-readable before.
func TestDataDirLock(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	cfg := net.Config("agent")
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "agentd.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	daemon, err := agentd.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			daemon.Close()
		}
	}()
	if err := daemon.Wallet.Fund(ctx, 50); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SOVMESH_DATA": cfg.DataDir, "SOVMESH_RELAY": net.Relay, "SOVMESH_MINT": net.Mint.URL()}
	cli := envCLI(ctx, env)
	holder := "pid " + strconv.Itoa(os.Getpid()) + " agentd" // a Node opened with no Command
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
		says string
	}{
		{"send beside the daemon", []string{"wallet", "send", "5"}, false, holder},
		{"a second provider", []string{"provide"}, false, holder},
		{"balance", []string{"wallet", "balance"}, true, "50 sats"},
		{"status", []string{"status"}, true, "balance  50 sats"},
		{"earnings", []string{"earnings"}, true, "earnings since"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := cli(tc.args...)
			if (code == 0) != tc.ok {
				t.Fatalf("exit %d, want ok=%v; stdout %q stderr %q", code, tc.ok, out, errs)
			}
			if !strings.Contains(out+errs, tc.says) {
				t.Fatalf("output does not say %q: stdout %q stderr %q", tc.says, out, errs)
			}
		})
	}
	for name, want := range map[string]os.FileMode{".": 0o700, "agentd.db": 0o600, "pay.db": 0o600, "keys": 0o700, "lock": 0o600} {
		info, err := os.Stat(filepath.Join(cfg.DataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, info.Mode().Perm(), want)
		}
	}
	// Once the daemon stops, the next command takes the directory.
	daemon.Close()
	stopped = true
	if out, errs, code := cli("wallet", "send", "5"); code != 0 {
		t.Fatalf("send after the daemon stopped: %d %q %q", code, out, errs)
	}
}
