// Package npmtest finds node and an npm package installed from a test's
// lock file, for the interop tests that drive third-party JavaScript
// clients (cashu-ts, applesauce-wallet, blossom-client-sdk, the MCP SDK).
package npmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireEnv, when set (.ci/run sets it after its npm ci), makes a missing
// node or package fail the test instead of skipping it.
const RequireEnv = "SOVMESH_REQUIRE_NPM"

// Node returns the path of node, once dir/node_modules/pkg is installed.
// Without either it skips the test (run npm ci in dir), or fails it when
// RequireEnv is set.
func Node(t testing.TB, dir, pkg string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", filepath.FromSlash(pkg)))
	}
	if err != nil {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("%s is not installed (npm ci in %s): %v", pkg, dir, err)
		}
		t.Skipf("%s is not installed (run npm ci in %s): %v", pkg, dir, err)
	}
	return node
}
