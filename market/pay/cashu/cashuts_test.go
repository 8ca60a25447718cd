package cashu_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/internal/npmtest"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

// cashuTS runs testdata/cashuts/interop.mjs with node and decodes the JSON
// line it prints. It skips when node or the npm packages are missing,
// unless SOVMESH_REQUIRE_NPM is set (as .ci/run sets it after npm ci).
func cashuTS(t *testing.T, out any, args ...string) {
	t.Helper()
	dir := filepath.Join("testdata", "cashuts")
	node := npmtest.Node(t, dir, "@cashu/cashu-ts")
	cmd := exec.CommandContext(t.Context(), node, append([]string{"interop.mjs"}, args...)...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("cashu-ts %s: %v\n%s", args[0], err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("cashu-ts %s printed %q: %v", args[0], b, err)
	}
}

// TestCashuTSInterop: cashu-ts, the TypeScript wallet most Cashu apps use,
// mints at the dev mint through a NUT-04 quote (which must carry amount,
// unit and an expiry in the future), pays our wallet, and takes a payment
// from it.
func TestCashuTSInterop(t *testing.T) {
	m := paytest.StartMint(t)
	var minted struct {
		Token string
		Quote struct {
			Amount uint64
			Unit   string
			Expiry int64
		}
	}
	cashuTS(t, &minted, "mint-and-send", m.URL(), "64", "21")
	if minted.Quote.Amount != 64 || minted.Quote.Unit != "sat" || minted.Quote.Expiry < time.Now().Add(30*time.Minute).Unix() {
		t.Fatalf("mint quote as cashu-ts read it: %+v", minted.Quote)
	}
	w := paytest.Wallet(t, nil, m.URL())
	rec, err := w.Receive(t.Context(), minted.Token, cashu.ReceiveOptions{})
	if err != nil || rec.Amount != 21 {
		t.Fatalf("our wallet received cashu-ts' token: %+v %v", rec, err)
	}
	sent, err := w.Send(t.Context(), 10, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Amount uint64 }
	cashuTS(t, &got, "receive", m.URL(), sent.Token)
	if got.Amount != 10 {
		t.Fatalf("cashu-ts received %d sats of our 10", got.Amount)
	}
}
