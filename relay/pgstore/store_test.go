package pgstore_test

import (
	"os"
	"testing"

	"github.com/fiatjaf/eventstore"

	"github.com/sovmesh/sovmesh/internal/pgtest"
	"github.com/sovmesh/sovmesh/relay/pgstore"
	"github.com/sovmesh/sovmesh/relay/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t testing.TB) *pgstore.Store {
	t.Helper()
	s, err := pgstore.New(t.Context(), pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store { return open(t) })
}
