package fees_test

import (
	"os"
	"testing"

	"github.com/sovmesh/sovmesh/internal/pgtest"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// forEachBackend runs test against the relay wallet's journal in each
// database it can live in (SQLite, PostgreSQL).
func forEachBackend(t *testing.T, test func(*testing.T, paytest.Backend)) {
	for _, b := range paytest.Backends() {
		t.Run(b.Name, func(t *testing.T) { test(t, b) })
	}
}
