package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// binDir holds the binaries the tests of this package build, once per run.
var binDir string

var (
	binMu    sync.Mutex
	binBuilt = map[string]string{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agentd-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	// The binaries the tests start write their new keys at a low scrypt
	// cost too (they read the variable through os.Environ).
	os.Setenv("SOVMESH_KEY_LOGN", testKeyLogN)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBin compiles the command in pkg (a path relative to this package,
// without -race: the children move hundreds of MiB) the first time a test
// asks for it; later tests get the same binary.
func buildBin(t testing.TB, pkg, name string) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if bin, ok := binBuilt[pkg]; ok {
		return bin
	}
	bin := filepath.Join(binDir, name)
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	binBuilt[pkg] = bin
	return bin
}

// testKeyLogN is the scrypt cost of the tests' key files: at NIP-49's 16 a
// key is created or opened in about 3 s under -race, and each command a
// test runs opens one.
const testKeyLogN = "4"

// envOf is the getenv of a command run in the test's process: env's
// variables, and the low scrypt cost unless env sets one.
func envOf(env map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		if k == "SOVMESH_KEY_LOGN" {
			return testKeyLogN
		}
		return ""
	}
}
