package buyer

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/nips"
)

// TestPutNeedsMinProviders: a put asked for 3 replicas with one provider
// online fails, says how many it reached and names --min-providers, and
// pays nothing; with --min-providers 1 it goes ahead.
func TestPutNeedsMinProviders(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	startProvider(t, net, "only", storageCfg(2_000_000))
	bn := net.Node(t, "buyer", 5000)
	data := make([]byte, 1<<20)
	rand.Read(data)
	tests := []struct {
		name    string
		min     int
		wantErr string
	}{
		{"default: survive losing one", 0, "found 1 storage providers, --min-providers is 2"},
		{"min-providers 3", 3, "found 1 storage providers, --min-providers is 3"},
		{"min-providers 1", 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(ctx, bn, Config{Replicas: 3, MinProviders: tc.min, StorageDuration: 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			before, _ := bn.Wallet.Balance(ctx)
			e, err := b.Put(ctx, bytes.NewReader(data), "photo.jpg", int64(len(data)), nil)
			if tc.wantErr == "" {
				if err != nil || len(e.Providers) != 1 {
					t.Fatalf("put with --min-providers 1: %v on %d providers", err, len(e.Providers))
				}
				return
			}
			if !errors.Is(err, ErrTooFewProviders) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("put: %v, want ErrTooFewProviders saying %q", err, tc.wantErr)
			}
			if after, _ := bn.Wallet.Balance(ctx); after != before {
				t.Fatalf("balance %d -> %d: a refused put paid", before, after)
			}
		})
	}
}

// TestPutUnaffordableStopsBeforeSending: a put the budgets or the balance
// cannot cover fails at once, naming the flag to change or the balance and
// the cost; nothing is paid, no session is opened, nothing is stored.
func TestPutUnaffordableStopsBeforeSending(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	// 10,000 sat per GiB-day for 7 days: 8 MiB cost about 550 sats.
	prov := startProvider(t, net, "p", storageCfg(10_000_000))
	tests := []struct {
		name      string
		perDay    uint64
		perCP     uint64
		fund      uint64
		wantInErr string
	}{
		{"per counterparty", 0, 300, 5000, "--budget-per-counterparty"},
		{"per day", 400, 0, 5000, "--budget-per-day"},
		{"balance", 0, 0, 100, "wallet balance 100 sats < cost"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bn := net.NodeWith(t, "buyer"+string(rune('a'+i)), tc.fund, func(c *agentd.Config) {
				c.BudgetPerDay, c.BudgetPerCounterparty = tc.perDay, tc.perCP
			})
			b, err := New(ctx, bn, Config{Replicas: 1, StorageDuration: 7 * 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			q, err := b.Quote(ctx, 8<<20)
			if err != nil || len(q.Providers) != 1 || q.Sats < 500 || q.Sats > 600 || q.Cap < q.Sats {
				t.Fatalf("quote: %+v %v, want about 550 sats on one provider", q, err)
			}
			data := make([]byte, 8<<20)
			var progressed int64
			_, err = b.Put(ctx, bytes.NewReader(data), "big", int64(len(data)), func(done, _ int64) { progressed = done })
			if !errors.Is(err, ErrCannotAfford) || !strings.Contains(err.Error(), tc.wantInErr) {
				t.Fatalf("put: %v, want ErrCannotAfford naming %q", err, tc.wantInErr)
			}
			if progressed != 0 {
				t.Fatalf("%d bytes read before the refusal", progressed)
			}
			if bal, _ := bn.Wallet.Balance(ctx); bal != tc.fund {
				t.Fatalf("balance %d, funded %d: a refused put paid", bal, tc.fund)
			}
			if ss, _ := bn.DB.Sessions(ctx, 10); len(ss) != 0 {
				t.Fatalf("%d sessions opened by a refused put", len(ss))
			}
		})
	}
	if tot, _ := prov.Node.DB.Totals(ctx, time.Time{}); tot.Net() != 0 {
		t.Fatalf("provider earned %d sats from refused puts", tot.Net())
	}
}

// TestGetSurvivesLosingAProvider: a file on 3 providers comes back when
// one of them is dead. The survivors serve the
// dead one's share (parity) within their caps, even when they still have
// an open session with the buyer from an abandoned put (which on the
// provider's side stays open), and read-back is charged at the retrieval
// price, not as storing for the session's days.
func TestGetSurvivesLosingAProvider(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	var provs []*runningProvider
	for i := range 3 {
		provs = append(provs, startProviderWith(t, net, "prov"+string(rune('a'+i)), storageCfg(2_000_000), killable(i == 0)))
	}
	bn := net.Node(t, "buyer", 20_000)
	b, err := New(ctx, bn, Config{StorageDuration: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 6<<20+4321)
	rand.Read(data)
	e, err := b.Put(ctx, bytes.NewReader(data), "blob.bin", int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// An abandoned put: the buyer gives up its sessions, the providers
	// keep theirs open.
	cands, err := b.Discover(ctx, nips.Storage, "")
	if err != nil || len(cands) != 3 {
		t.Fatalf("discover: %d %v", len(cands), err)
	}
	for _, c := range cands {
		s, err := b.Open(ctx, c, 1, 7*86400, "")
		if err != nil {
			t.Fatal(err)
		}
		b.finishFailed(ctx, s)
	}
	// One provider dies: the survivors must serve its share from parity.
	provs[0].Kill()
	var out bytes.Buffer
	if _, err := b.Get(ctx, e.Root, &out, nil); err != nil {
		t.Fatalf("get with one of three providers dead: %v", err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("file differs")
	}
}
