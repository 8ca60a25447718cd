package fees_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/journal"
)

const childEnv = "SOVMESH_FEES_KILL_CHILD"

type childArgs struct {
	Dir, Key, Mint, Step, Where string
	Event                       *nostr.Event
}

// TestChargeProcessKilled runs a charge in a child process that exits
// abruptly (os.Exit: no deferred work, no clean close of the database) at a
// step of the charge, then opens the same journal in this process, resumes,
// and checks the payer was credited and charged once.
func TestChargeProcessKilled(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		runChild(t)
		return
	}
	m := paytest.StartMint(t)
	for _, st := range []struct{ where, step string }{
		{"wallet", "receive.swapped"},
		{"fees", "fee.received"},
	} {
		t.Run(st.step, func(t *testing.T) {
			ctx := t.Context()
			dir, key := t.TempDir(), paytest.NewKey(t)
			buyer := paytest.Funded(t, 20, nil, m.URL())
			sent, err := buyer.Send(ctx, 5, cashu.SendOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sk := nostr.GeneratePrivateKey()
			pk, _ := nostr.GetPublicKey(sk)
			ev := event(t, sk, offerKind, nostr.Tags{{fees.TagName, sent.Token}})
			args, _ := json.Marshal(childArgs{Dir: dir, Key: key, Mint: m.URL(), Step: st.step, Where: st.where, Event: ev})
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(cctx, os.Args[0], "-test.run=^TestChargeProcessKilled$", "-test.count=1")
			cmd.Env = append(os.Environ(), childEnv+"="+string(args))
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 3 {
				t.Fatalf("child did not die at %s: %v\n%s", st.step, err, out)
			}

			j, err := journal.Open(ctx, filepath.Join(dir, "pay.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			cfg := cashu.DefaultConfig()
			cfg.Mints, cfg.PrivateKey = []string{m.URL()}, key
			w, err := cashu.Open(ctx, j, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Resume(ctx); err != nil {
				t.Fatal(err)
			}
			col, err := fees.New(j, w, fees.Config{Publication: map[int]uint64{offerKind: 3}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := col.Resume(ctx); err != nil || n != 1 {
				t.Fatalf("resume: %d %v", n, err)
			}
			if err := col.Charge(ctx, ev, ""); err != nil {
				t.Fatalf("resent: %v", err)
			}
			if b, _ := col.Balance(ctx, pk); b != 2 {
				t.Fatalf("payer balance %d, want 2", b)
			}
			if b, _ := w.Balance(ctx); b != 5 {
				t.Fatalf("relay wallet %d, want 5", b)
			}
			e, _ := col.Earnings(ctx, time.Now().Add(-time.Hour), time.Now())
			if len(e) != 1 || e[0].Publication != 3 || e[0].Events != 1 {
				t.Fatalf("earnings %+v", e)
			}
		})
	}
}

// runChild is the relay process that dies midway.
func runChild(t *testing.T) {
	var a childArgs
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &a); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	die := func(where string) func(string) error {
		return func(step string) error {
			if where == a.Where && step == a.Step {
				os.Exit(3)
			}
			return nil
		}
	}
	j, err := journal.Open(ctx, filepath.Join(a.Dir, "pay.db"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := cashu.DefaultConfig()
	cfg.Mints, cfg.PrivateKey, cfg.StepHook = []string{a.Mint}, a.Key, die("wallet")
	w, err := cashu.Open(ctx, j, cfg)
	if err != nil {
		t.Fatal(err)
	}
	col, err := fees.New(j, w, fees.Config{Publication: map[int]uint64{offerKind: 3}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fees.SetStepHook(col, die("fees"))
	err = col.Charge(ctx, a.Event, "")
	t.Fatalf("child survived the charge: %v", err)
}
