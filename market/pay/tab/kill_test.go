package tab_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/tab"
	"github.com/sovmesh/sovmesh/transport"
)

const childEnv = "SOVMESH_TAB_KILL_CHILD"

type childArgs struct {
	Dir, Key, Mint, Buyer, Deposit string
}

// TestChangeProcessKilled: a seller process takes a deposit, serves two
// steps, starts closing the tab and dies (os.Exit) right after the change's
// send op is journaled. This process opens the same files, resumes, and the
// buyer gets its change once.
func TestChangeProcessKilled(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		runSeller(t)
		return
	}
	m := paytest.StartMint(t)
	ctx := t.Context()
	buyerKey := paytest.NewKey(t)
	buyerPub := pubOf(t, buyerKey)
	buyer := paytest.WalletAt(t, t.TempDir(), buyerKey, nil, m.URL())
	if err := buyer.Fund(ctx, 40); err != nil {
		t.Fatal(err)
	}
	payer := &tab.Payer{Wallet: buyer, Deposit: 13}
	dep, err := payer.Pay(ctx, transport.Invoice{Need: 1})
	if err != nil {
		t.Fatal(err)
	}
	dir, key := t.TempDir(), paytest.NewKey(t)
	args, _ := json.Marshal(childArgs{Dir: dir, Key: key, Mint: m.URL(), Buyer: buyerPub, Deposit: string(dep)})
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, os.Args[0], "-test.run=^TestChangeProcessKilled$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+string(args))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("seller did not die: %v\n%s", err, out)
	}
	seller := paytest.WalletAt(t, dir, key, nil, m.URL())
	if _, err := seller.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	k, err := tab.NewKeeper(seller, sellerConfig())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := k.Resume(ctx); err != nil || n != 1 {
		t.Fatalf("resume: %d %v", n, err)
	}
	var id string
	if err := seller.Journal().DB().QueryRowContext(ctx, `SELECT id FROM tabs`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	ch, err := k.Change(ctx, id)
	if err != nil || ch.Amount != 11 {
		t.Fatalf("change %+v %v", ch, err)
	}
	if back, err := payer.Settle(ctx, ch); err != nil || back != 11 {
		t.Fatalf("settle %d %v", back, err)
	}
	if b, s := balance(t, buyer), balance(t, seller); b != 38 || s != 2 {
		t.Fatalf("buyer %d seller %d, want 38 and 2", b, s)
	}
}

func sellerConfig() tab.Config {
	cfg := tab.DefaultConfig()
	cfg.StepUnits, cfg.StepSats = mib, 1
	return cfg
}

// runSeller is the seller process that dies while making the change.
func runSeller(t *testing.T) {
	var a childArgs
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &a); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	closing := false
	w := paytest.WalletAt(t, a.Dir, a.Key, func(c *cashu.Config) {
		c.StepHook = func(step string) error {
			if closing && step == "send.journaled" {
				os.Exit(3)
			}
			return nil
		}
	}, a.Mint)
	k, err := tab.NewKeeper(w, sellerConfig())
	if err != nil {
		t.Fatal(err)
	}
	s := transport.Session{ID: "s1", Buyer: a.Buyer}
	if _, err := k.Open(ctx, s); err != nil {
		t.Fatal(err)
	}
	if u, err := k.Redeem(ctx, s, []byte(a.Deposit)); err != nil || u != mib {
		t.Fatalf("deposit: %d %v", u, err)
	}
	if u, err := k.Redeem(ctx, s, []byte(tab.DrawToken)); err != nil || u != mib {
		t.Fatalf("draw: %d %v", u, err)
	}
	k.Close(ctx, s, transport.Usage{Units: 2 * mib})
	closing = true
	_, err = k.CloseTab(ctx, a.Buyer)
	t.Fatalf("seller survived closing: %v", err)
}
