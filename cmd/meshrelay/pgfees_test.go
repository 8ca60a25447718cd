package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/pgtest"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/nips/nipstest"
)

// TestTwoRelaysChargeFeesOnceOnPostgres: two meshrelay processes on one
// PostgreSQL database with an offer fee. An offer paid with a token on one
// and sent again to the other is charged once; the token's excess is a
// prepaid balance that offers sent to both processes at once spend exactly,
// never beyond; every sat the provider paid is in the relays' one wallet,
// as fees earned.
func TestTwoRelaysChargeFeesOnceOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	url := pgtest.DB(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	mint, err := devmint.Start(ctx, t.TempDir(), devmint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mint.Shutdown(context.Background()) })
	bin := buildRelay(t)
	sk := nostr.GeneratePrivateKey()
	const fee = 2
	env := []string{"SOVMESH_DATABASE=" + url, "SOVMESH_MINTS=" + mint.URL(), fmt.Sprintf("SOVMESH_OFFER_FEE=%d", fee)}
	var rls []*nostr.Relay
	for i := range 2 {
		data := filepath.Join(t.TempDir(), fmt.Sprint("relay", i))
		if err := os.Mkdir(data, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, "relay.key"), []byte(sk), 0o600); err != nil {
			t.Fatal(err)
		}
		p := startWith(t, bin, data, env)
		rl, err := nostr.RelayConnect(ctx, p.url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rl.Close() })
		rls = append(rls, rl)
	}

	provider := nostr.GeneratePrivateKey()
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "provider.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	wcfg := cashu.DefaultConfig()
	wcfg.Mints, wcfg.PrivateKey = []string{mint.URL()}, provider
	wallet, err := cashu.Open(ctx, j, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	const funded = 30
	if err := wallet.Fund(ctx, funded); err != nil {
		t.Fatal(err)
	}
	offer := func(d, token string) nostr.Event {
		o := nipstest.BandwidthOffer()
		o.ID, o.Geohash, o.Expiration = d, "dr5rs", nostr.Now()+3600
		ev := o.ToEvent(nostr.Now())
		if token != "" {
			ev.Tags = append(ev.Tags, nostr.Tag{fees.TagName, token})
		}
		if err := ev.Sign(provider); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	token := func(n uint64) string {
		s, err := wallet.Send(ctx, n, cashu.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Token
	}

	// Paid on one process, sent again to the other: accepted, charged once.
	paid := offer("paid", token(fee))
	if err := rls[0].Publish(ctx, paid); err != nil {
		t.Fatalf("paid offer: %v", err)
	}
	if err := rls[1].Publish(ctx, paid); err != nil && !strings.Contains(err.Error(), "duplicate:") {
		t.Fatalf("the paid offer on the other process: %v", err)
	}
	// 10 sats for a 2-sat fee: 8 stay as the provider's prepaid balance.
	if err := rls[1].Publish(ctx, offer("prepay", token(10))); err != nil {
		t.Fatalf("overpaid offer: %v", err)
	}
	// Eight offers paid from the balance, four to each process at once:
	// four are accepted, four refused.
	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		accepted, refused int
		other             []error
	)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := rls[i%2].Publish(ctx, offer(fmt.Sprint("balance-", i), ""))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted++
			case strings.Contains(err.Error(), "payment-required:"):
				refused++
			default:
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	if accepted != 4 || refused != 4 || len(other) > 0 {
		t.Fatalf("offers from the balance: %d accepted, %d refused, errors %v; want 4 and 4", accepted, refused, other)
	}

	// The relays' one wallet and ledger, read from the database: 12 sats
	// received, 12 earned (6 fees), no balance left; the provider kept 18.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var inWallet, earned, charges, balance int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(sum(amount), 0)::bigint FROM proofs WHERE state = 'unspent'`).Scan(&inWallet); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT coalesce(sum(amount), 0)::bigint, count(*) FROM fee_ledger WHERE refunded = 0`).Scan(&earned, &charges); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT coalesce(sum(sats), 0)::bigint FROM fee_balances`).Scan(&balance); err != nil {
		t.Fatal(err)
	}
	left, err := wallet.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if inWallet != 12 || earned != 12 || charges != 6 || balance != 0 || left+uint64(inWallet) != funded {
		t.Fatalf("relay wallet %d, earned %d in %d charges, balances %d, provider kept %d of %d", inWallet, earned, charges, balance, left, funded)
	}
}
