package dashboard_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/dashboard"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/internal/browsertest"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
)

// onePayment pays a storage put with one token made beforehand.
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

// waitFor polls cond every 20 ms for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestDashboardInBrowser: a real provider (relay, dev mint, libp2p) sells
// storage and bandwidth; a buyer stores a 64 KiB chunk paid with a 4-sat
// token; bandwidth is busy, so its price rises. The dashboard, in headless
// Chromium at phone and desktop widths, shows the 4 sats as this month's
// earnings (in the chart too), the provider online, the storage used and
// why the bandwidth price moved, with nothing loaded from other hosts.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	browser := browsertest.New(t)
	ctx := t.Context()
	net := agentdtest.Start(t)
	pn := net.Node(t, "provider", 0)
	p, err := provider.New(pn, provider.Config{
		Storage:       &provider.StorageConfig{Quota: 1 << 30, PriceMsat: 65_536_000}, // 4 sats buy a 64 KiB chunk for a day
		Bandwidth:     &provider.BandwidthConfig{PriceMsat: 1000, MaxConns: 4},
		PriceInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("provider run: %v", err)
		}
	})
	select { // its offers and presence beacon published
	case <-p.Ready():
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("provider stopped before it was ready: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("provider not ready after 15 s")
	}

	// The dashboard before any data: every figure says it is loading.
	d := dashboard.New(p, pn.DB, agentdtest.Logger())
	stop, url, err := d.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	for _, id := range []string{"earn-this", "earn-last", "providers", "sessions", "storage", "bandwidth", "uptime"} {
		if !strings.Contains(string(page), fmt.Sprintf(`id=%q class="big">loading…<`, id)) {
			t.Errorf("#%s does not say loading before the data arrives", id)
		}
	}

	// A buyer stores one chunk, paid 4 sats.
	bn := net.Node(t, "buyer", 16)
	if err := bn.StartHost(ctx); err != nil {
		t.Fatal(err)
	}
	pid, err := bn.Host.Connect(ctx, pn.Key.Pubkey, pn.Host.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	sent, err := bn.Wallet.Send(ctx, 4, cashu.SendOptions{Counterparty: pn.Key.Pubkey})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64<<10)
	rand.Read(data)
	if err := bn.Host.Storage(pid, &onePayment{token: sent.Token}).Put(ctx, chunk.Sum(data), data); err != nil {
		t.Fatalf("put: %v", err)
	}
	var earned uint64
	waitFor(t, "the provider's earnings", func() bool {
		tot, err := p.Earnings(ctx, time.Time{})
		earned = tot.Net()
		return err == nil && earned > 0
	})
	if earned != 4 {
		t.Fatalf("provider earned %d sats, want 4", earned)
	}
	// Its presence beacon (published before it was ready) is on the relay.
	if evs, err := pn.Relays.Query(ctx, nostr.Filter{Kinds: []int{nips.KindPresence}, Authors: []string{pn.Key.Pubkey}}); err != nil || len(evs) != 1 {
		t.Fatalf("%d presence beacons of the provider (%v), want 1", len(evs), err)
	}
	// Bandwidth is busy: its price rises 10 %.
	p.SetLoad(nips.Bandwidth, 4)
	p.AdjustPrices(ctx)

	tab := browser
	for _, width := range []int{browsertest.Phone, browsertest.Desktop} {
		t.Run(fmt.Sprintf("%dpx", width), func(t *testing.T) {
			browsertest.Width(t, tab, width)
			browsertest.Step(t, tab, "load the dashboard", chromedp.Navigate(url))
			browsertest.WaitJS(t, tab, "the data", `document.body.dataset.loaded === "true"`)
			text := func(id string) string {
				return browsertest.Must[string](t, tab, fmt.Sprintf(`document.getElementById(%q).textContent`, id))
			}
			checks := []struct{ id, want string }{
				{"earn-this", fmt.Sprintf("%d sat", earned)},
				{"earn-last", "0 sat"},
				{"this-label", time.Now().UTC().Format("2006-01")},
				{"providers", "1 of 1"},
				{"storage", "64 KiB"},
				{"status", "live"},
			}
			for _, c := range checks {
				if got := text(c.id); got != c.want {
					t.Errorf("#%s = %q, want %q", c.id, got, c.want)
				}
			}
			if got := browsertest.Must[string](t, tab, `document.getElementById("earn-this").title`); got != "4,000 msat = 4 sat" {
				t.Errorf("exact earnings on hover %q", got)
			}
			// The chart: this month's storage bar carries the 4 sats, last
			// month's is empty; bandwidth is drawn (it is sold) at 0.
			bar := func(res, which string) string {
				return browsertest.Must[string](t, tab, fmt.Sprintf(`(document.querySelector('#chart g[data-resource=%q] rect.bar.%s') || {getAttribute: () => "missing"}).getAttribute("data-sats")`, res, which))
			}
			if got := bar("storage", "this"); got != fmt.Sprint(earned) {
				t.Errorf("storage bar this month: %s sats, want %d", got, earned)
			}
			if got := bar("storage", "last"); got != "0" {
				t.Errorf("storage bar last month: %s sats, want 0", got)
			}
			if got := bar("bandwidth", "this"); got != "0" {
				t.Errorf("bandwidth bar this month: %s sats, want 0", got)
			}
			why := browsertest.Must[string](t, tab, `document.querySelector('.price[data-resource="bandwidth"]').innerText`)
			for _, want := range []string{"1.1 sat/MiB", "from 1 sat to 1.1 sat", "load 100% at or above 70%: raised 10%"} {
				if !strings.Contains(why, want) {
					t.Errorf("bandwidth price %q lacks %q", why, want)
				}
			}
			if got := browsertest.Must[string](t, tab, `document.querySelector('.price[data-resource="bandwidth"] .now span').title`); got != "1,100 msat = 1.1 sat" {
				t.Errorf("exact bandwidth price on hover %q", got)
			}
			// Storage is idle (64 KiB of 1 GiB): its price fell 5 %.
			st := browsertest.Must[string](t, tab, `document.querySelector('.price[data-resource="storage"]').innerText`)
			for _, want := range []string{"62,259 sat/GiB·day", "from 65,536 sat to 62,259 sat", "load 0% at or below 20%: lowered 5%"} {
				if !strings.Contains(st, want) {
					t.Errorf("storage price %q lacks %q", st, want)
				}
			}
			// Phone first: nothing wider than the screen.
			if over := browsertest.Must[bool](t, tab, `document.documentElement.scrollWidth > window.innerWidth`); over {
				t.Errorf("the page scrolls sideways at %d px", width)
			}
			// Nothing from other hosts.
			if n := browsertest.Must[int](t, tab, `performance.getEntriesByType("resource").filter((e) => !e.name.startsWith(location.origin)).length`); n != 0 {
				t.Errorf("%d resources loaded from other hosts", n)
			}
			browsertest.Shot(t, tab, "dashboard")
		})
	}
}
