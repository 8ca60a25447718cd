package provider_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
)

// onePayment pays a pause point with one token made beforehand (as a buyer
// holding proofs of the exact amount does, with no mint), and refuses to
// pay twice.
type onePayment struct {
	token string
	used  atomic.Bool
}

func (o *onePayment) Pay(_ context.Context, inv transport.Invoice) ([]byte, error) {
	if inv.Need == 0 {
		return nil, nil // a payment ahead: declined
	}
	if o.used.Swap(true) {
		return nil, errors.New("test payer: one token per put")
	}
	return []byte(o.token), nil
}

// TestPaymentsWhileTheMintIsDown: a storage provider whose mint goes down
// (a proxy in front of the dev mint is closed). With --offline-limit 10 it
// accepts payments on their DLEQ proofs (the puts go through), reports the
// exposure, refuses what would pass the limit with a clear error, and once
// the mint is back its running settle loop swaps the queued payments: the
// good one lands in its balance, the one the buyer had double-spent is
// written off its earnings (the bounded loss). With the limit 0 every
// payment is refused while the mint is down. Either way the buyer takes
// back every token the provider did not redeem: no sat of its is lost.
func TestPaymentsWhileTheMintIsDown(t *testing.T) {
	const price = 65_536_000 // msat per GiB-day: 4 sats buy one 64 KiB chunk for a day
	cases := []struct {
		name  string
		limit uint64
		// accepted: which of the payments good, double-spent, over the
		// limit go through while the mint is down.
		accepted [3]bool
		// refusal is in the error of a refused put.
		refusal string
		// after the mint is back: the provider's balance and net
		// earnings, and what it wrote off.
		balance, net, lost uint64
	}{
		{name: "offline limit 10", limit: 10, accepted: [3]bool{true, true, false},
			refusal: cashu.ErrOfflineLimit.Error(), balance: 4, net: 4, lost: 4},
		{name: "offline limit 0", limit: 0, accepted: [3]bool{false, false, false},
			refusal: cashu.ErrMintUnreachable.Error(), balance: 0, net: 0, lost: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			net := agentdtest.Start(t)
			mint := agentdtest.StartProxy(t, net.Mint.URL())
			viaProxy := func(limit uint64) func(*agentd.Config) {
				return func(c *agentd.Config) { c.Mints, c.OfflineLimit = []string{mint.URL}, limit }
			}
			pn := net.NodeWith(t, "provider", 0, viaProxy(tc.limit))
			p, err := provider.New(pn, provider.Config{
				Storage:        &provider.StorageConfig{Quota: 1 << 30, PriceMsat: price},
				PriceInterval:  time.Hour,
				SettleInterval: 100 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			runProvider(t, p)

			const funded = 64
			bn := net.NodeWith(t, "buyer", funded, viaProxy(0))
			if err := bn.StartHost(ctx); err != nil {
				t.Fatal(err)
			}
			pid, err := bn.Host.Connect(ctx, pn.Key.Pubkey, pn.Host.Addrs())
			if err != nil {
				t.Fatal(err)
			}
			// Three tokens of 4 sats, made while the mint is up; the
			// buyer takes the second back at once (a double spend the
			// provider cannot see offline).
			var ops [3]int64
			var tokens [3]string
			for i := range tokens {
				s, err := bn.Wallet.Send(ctx, 4, cashu.SendOptions{Counterparty: pn.Key.Pubkey})
				if err != nil {
					t.Fatal(err)
				}
				ops[i], tokens[i] = s.OpID, s.Token
			}
			if rc, err := bn.Wallet.Reclaim(ctx, ops[1]); err != nil || rc.Amount != 4 {
				t.Fatalf("double spend: %+v %v", rc, err)
			}

			// put stores a 64 KiB chunk paid with tok. A stream the
			// provider closed after refusing a payment may still be in
			// the buyer's pool: a put that failed before paying is tried
			// once more, on a new stream.
			put := func(tok string) error {
				t.Helper()
				data := make([]byte, 64<<10)
				rand.Read(data)
				var err error
				for range 2 {
					pay := &onePayment{token: tok}
					err = bn.Host.Storage(pid, pay).Put(ctx, chunk.Sum(data), data)
					var remote *transport.RemoteError
					if err == nil || pay.used.Load() || errors.As(err, &remote) {
						break
					}
				}
				return err
			}
			mint.SetDown(true)
			for i, tok := range tokens {
				err := put(tok)
				switch {
				case tc.accepted[i] && err != nil:
					t.Fatalf("payment %d refused while the mint is down: %v", i, err)
				case !tc.accepted[i] && err == nil:
					t.Fatalf("payment %d accepted while the mint is down", i)
				case !tc.accepted[i] && !strings.Contains(err.Error(), tc.refusal):
					t.Fatalf("payment %d refused with %q, want it to say %q", i, err, tc.refusal)
				}
			}
			var queued uint64
			for _, ok := range tc.accepted {
				if ok {
					queued += 4
				}
			}
			exp, err := pn.Wallet.OfflineExposure(ctx)
			if err != nil || exp[mint.URL] != queued {
				t.Fatalf("exposure %v (%v), want %d sats at %s", exp, err, queued, mint.URL)
			}
			tot, err := p.Earnings(ctx, time.Time{})
			if err != nil || tot.Earned != queued || tot.Unconfirmed != queued {
				t.Fatalf("earnings while the mint is down: %+v %v, want %d earned, all unconfirmed", tot, err, queued)
			}
			if b, _ := pn.Wallet.Balance(ctx); b != 0 {
				t.Fatalf("provider balance %d before the swaps", b)
			}

			mint.SetDown(false)
			waitFor(t, "the queued payments settled", func() bool {
				exp, err := pn.Wallet.OfflineExposure(ctx)
				tot, terr := p.Earnings(ctx, time.Time{})
				return err == nil && terr == nil && exp[mint.URL] == 0 && tot.Unconfirmed == 0
			})
			if b, err := pn.Wallet.Balance(ctx); err != nil || b != tc.balance {
				t.Fatalf("provider balance %d (%v), want %d", b, err, tc.balance)
			}
			tot, err = p.Earnings(ctx, time.Time{})
			if err != nil || tot.Net() != tc.net || tot.Lost != tc.lost || tot.Net() != tot.ByResource[nips.Storage] {
				t.Fatalf("provider earnings %+v (%v), want net %d, lost %d", tot, err, tc.net, tc.lost)
			}

			// The buyer reconciles: what the provider did not redeem comes
			// back, what it redeemed is recognised as paid.
			back, err := metering.Reclaim(ctx, bn.Wallet, bn.DB, pn.Key.Pubkey, []int64{ops[0], ops[2]})
			if err != nil {
				t.Fatalf("reclaim: %v", err)
			}
			if want := 8 - tc.balance; back != want {
				t.Fatalf("buyer took back %d sats, want %d", back, want)
			}
			if b, err := bn.Wallet.Balance(ctx); err != nil || b != funded-tc.balance {
				t.Fatalf("buyer balance %d (%v), want %d: only what the provider redeemed is gone", b, err, funded-tc.balance)
			}
		})
	}
}

// waitFor polls cond every 20 ms for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
