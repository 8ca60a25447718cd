package provider_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/buyer"
	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
)

// TestCompletionChangeKeptOwed: the change of a session's completion is
// locked to its buyer and its change note is owed from the send's
// transaction, as a closed session's refund is: delivered in band it is
// not published; with the buyer's stream gone and no relay answering it
// stays owed, goes out once a relay answers again, and the buyer collects
// exactly the change (real relay behind a TCP proxy, real mint). On main
// the note no relay took was dropped, and the change was a bearer token.
func TestCompletionChangeKeptOwed(t *testing.T) {
	for _, c := range []struct {
		name   string
		broken bool // the buyer's stream is gone when the change chunk goes out
	}{
		{"delivered in band", false},
		{"the stream broke, the relays down", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			net0 := agentdtest.Start(t)
			relay := agentdtest.StartProxy(t, net0.Relay)
			pn := net0.NodeWith(t, "prov", 0, func(c *agentd.Config) { c.Relays = []string{relay.URL} })
			bn := net0.Node(t, "buyer", 100)
			other := net0.Node(t, "other", 0)
			llm := agentdtest.StartLLM(t, "standin-1", []string{"one", "two", "three"}, 0)
			p, err := provider.New(pn, provider.Config{Inference: &provider.InferenceConfig{URL: llm.URL, PriceInMsat: 1_000_000, PriceOutMsat: 1_000_000}})
			if err != nil {
				t.Fatal(err)
			}
			const sess = "5e55"
			if err := pn.DB.PutSession(ctx, state.Session{ID: sess, Role: state.RoleProvider, Resource: nips.Inference, Counterparty: bn.Key.Pubkey,
				Prices: nips.Prices{{Unit: nips.UnitMInputTokens, Msat: 1_000_000}, {Unit: nips.UnitMOutputTokens, Msat: 1_000_000}}}); err != nil {
				t.Fatal(err)
			}
			pay, err := bn.Wallet.Send(ctx, 20, cashu.SendOptions{IncludeFees: true})
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(map[string]any{"model": "standin-1", "messages": []map[string]string{{"role": "user", "content": "hi"}},
				metering.TokenField: pay.Token, nips.InferenceSessionField: sess})
			if c.broken {
				relay.SetDown(true)
			}
			errGone := errors.New("stream gone")
			var chg metering.Change
			err = p.ServeChat(ctx, raw, func(b []byte) error {
				if !strings.Contains(string(b), metering.ChangeObject) {
					return nil
				}
				if err := json.Unmarshal(b, &chg); err != nil {
					t.Fatal(err)
				}
				if c.broken {
					return errGone
				}
				return nil
			})
			if c.broken != errors.Is(err, errGone) {
				t.Fatalf("served: %v", err)
			}
			tot, err := pn.DB.Totals(ctx, time.Time{})
			if err != nil || tot.Change == 0 || chg.ChangeSats != tot.Change || chg.Token == "" {
				t.Fatalf("change chunk %d sats, provider's ledger %d (%v)", chg.ChangeSats, tot.Change, err)
			}
			if _, err := other.Wallet.Receive(ctx, chg.Token, cashu.ReceiveOptions{}); !errors.Is(err, cashu.ErrLockedToOther) {
				t.Fatalf("another key redeemed the change: %v", err)
			}
			owed, err := pn.DB.OwedChangeNotes(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			if !c.broken {
				if len(owed) != 0 {
					t.Fatalf("change delivered in band left %d notes owed", len(owed))
				}
				rcv, err := bn.Wallet.Receive(ctx, chg.Token, cashu.ReceiveOptions{})
				if err != nil || rcv.Value != chg.ChangeSats {
					t.Fatalf("the buyer redeemed %d of %d sats: %v", rcv.Value, chg.ChangeSats, err)
				}
				return
			}
			if len(owed) != 1 || owed[0].Buyer != bn.Key.Pubkey || owed[0].Sats != chg.ChangeSats || owed[0].Resource != nips.Inference {
				t.Fatalf("owed notes %+v, want the change of %d sats to %s", owed, chg.ChangeSats, bn.Key.Pubkey)
			}
			relay.SetDown(false)
			// The relay pool backs off from the relay it found down: poll.
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				n, err := p.PublishChangeNotes(ctx)
				if n == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("published %d owed notes: %v", n, err)
				}
			}
			before, err := bn.Wallet.Balance(ctx)
			if err != nil {
				t.Fatal(err)
			}
			b, err := buyer.New(ctx, bn, buyer.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.CollectChange(ctx); err != nil {
				t.Fatal(err)
			}
			after, err := bn.Wallet.Balance(ctx)
			if err != nil || after-before != chg.ChangeSats {
				t.Fatalf("the buyer collected %d sats of %d change (%v)", after-before, chg.ChangeSats, err)
			}
		})
	}
}
