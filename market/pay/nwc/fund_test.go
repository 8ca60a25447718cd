package nwc_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/market/pay/nwc"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

func opStates(t *testing.T, w *cashu.Wallet, kind string) map[string]int {
	t.Helper()
	ops, err := w.Journal().List(t.Context(), journal.StatePrepared, journal.StateDone, journal.StateFailed)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, op := range ops {
		if op.Kind == kind {
			out[op.State]++
		}
	}
	return out
}

// TestFundWithdraw: Fund and Withdraw move exact sats between a Cashu
// wallet and a wallet service at another mint; a quote the service
// refuses is dropped, and one whose answer never comes stays open for
// Resume.
func TestFundWithdraw(t *testing.T) {
	ctx := t.Context()
	relay := relaytest.Start(t)
	agentMint := paytest.StartMintWith(t, devmint.Options{Strict: true}) // quotes paid only over the fake network
	owner := paytest.Funded(t, 100, nil, paytest.StartMint(t).URL())
	_, c, uri := startService(t, relay, owner)
	agent := paytest.Wallet(t, nil, agentMint.URL())
	balances := func(wantAgent, wantOwner uint64) {
		t.Helper()
		a, _ := agent.Balance(ctx)
		o, _ := owner.Balance(ctx)
		if a != wantAgent || o != wantOwner {
			t.Fatalf("agent %d sats, owner %d; want %d and %d", a, o, wantAgent, wantOwner)
		}
	}
	move := nwc.MoveOptions{Network: "signet"}
	if got, err := nwc.Fund(ctx, agent, c, 30, move); err != nil || got != 30 {
		t.Fatalf("fund: %d %v", got, err)
	}
	balances(30, 70)
	if p, err := nwc.Withdraw(ctx, agent, c, 10, move); err != nil || p.Amount != 10 {
		t.Fatalf("withdraw: %+v %v", p, err)
	}
	balances(20, 80)

	stranger := uri
	stranger.Secret = nostr.GeneratePrivateKey()
	sc, err := nwc.Connect(ctx, stranger, nwc.ClientOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := nwc.Fund(ctx, agent, sc, 5, move); !errors.Is(err, nwc.ErrUnauthorized) {
		t.Fatalf("fund through an unauthorized connection: %v", err)
	}
	if st := opStates(t, agent, cashu.KindMint); st[journal.StateFailed] != 1 || st[journal.StatePrepared] != 0 {
		t.Fatalf("refused quote not dropped: %v", st)
	}
	// A wallet that never answers: the payment may still happen.
	silent := uri
	silent.WalletPubkey, _ = nostr.GetPublicKey(nostr.GeneratePrivateKey())
	qc, err := nwc.Connect(ctx, silent, nwc.ClientOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer qc.Close()
	if _, err := nwc.Fund(ctx, agent, qc, 5, move); !errors.Is(err, cashu.ErrPending) {
		t.Fatalf("fund without an answer: %v", err)
	}
	if st := opStates(t, agent, cashu.KindMint); st[journal.StatePrepared] != 1 {
		t.Fatalf("unanswered quote not kept for Resume: %v", st)
	}
	balances(20, 80)
}
