package main

import (
	"os/exec"
	"strings"
	"testing"
)

// nodevmintCeiling bounds the non-standard packages a nodevmint meshrelay
// links (231 when it was set, with the PostgreSQL store's pgx driver for
// --database; README "Building for production"). A new
// dependency that crosses it is a decision to make, not an accident.
const nodevmintCeiling = 240

// forbiddenInProduction are module path prefixes a nodevmint build must
// not link: the gonuts mint, Lightning node code and the database drivers
// and RPC stacks they bring. (pgx is the relay's own PostgreSQL driver,
// --database, so it is allowed.)
var forbiddenInProduction = []string{
	"github.com/elnosh/gonuts/mint",
	"github.com/lightningnetwork/",
	"github.com/lightninglabs/",
	"google.golang.org/grpc",
	"go.etcd.io/",
	"github.com/lib/pq",
	"github.com/golang-migrate/",
	"github.com/sovmesh/sovmesh/market/pay/devmint",
}

func TestNoDevMintBuildLinksNoMint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "-tags", "nodevmint", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	nonStd := 0
	for _, p := range strings.Fields(string(out)) {
		if !strings.Contains(strings.SplitN(p, "/", 2)[0], ".") {
			continue // the standard library
		}
		nonStd++
		for _, f := range forbiddenInProduction {
			if strings.HasPrefix(p, f) {
				t.Errorf("a nodevmint meshrelay links %s", p)
			}
		}
	}
	t.Logf("a nodevmint meshrelay links %d non-standard packages", nonStd)
	if nonStd > nodevmintCeiling {
		t.Errorf("a nodevmint meshrelay links %d non-standard packages, above the ceiling of %d", nonStd, nodevmintCeiling)
	}
}
