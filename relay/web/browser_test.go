package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// Browser tests drive Debian's Chromium headless (apt-get install chromium).
// Where it is missing they skip, except under CI (CI set), where they fail.

// chromiumPath finds the browser: $SOVMESH_CHROMIUM, else chromium on PATH.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SOVMESH_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "headless Chromium not found: install Debian's package (apt-get install -y chromium) or set SOVMESH_CHROMIUM"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// newBrowser starts one headless Chromium for the test, with an empty
// profile and no background network traffic, and returns its first tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // root in containers
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser (no timeout: it would end it)
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// newTab opens another tab of the same browser (cookies are shared).
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return ctx
}

// step runs actions on tab with a bounded time.
func step(t *testing.T, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		shot(t, tab, "failed")
		t.Fatalf("%s: %v", what, err)
	}
}

// click clicks the element css selects, as a person would (mouse events at
// its position). A node replaced between the lookup and the click (a live
// table re-rendered) is looked up again.
func click(t *testing.T, tab context.Context, what, css string) {
	t.Helper()
	var err error
	for range 20 {
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(css)))
		cancel()
		if err == nil || !strings.Contains(err.Error(), "Could not find node") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		shot(t, tab, "failed")
		t.Fatalf("%s: click %s: %v", what, css, err)
	}
}

// waitJS waits until the JavaScript expression is truthy. A navigation in
// between (after a click on a link) restarts the wait on the new page.
func waitJS(t *testing.T, tab context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for attempt := 0; time.Now().Before(deadline) && attempt < 100; attempt++ {
		ctx, cancel := context.WithDeadline(tab, deadline)
		_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		// A page that navigated away mid-poll ("target navigated",
		// "Cannot find context"): poll again on the new page.
		time.Sleep(50 * time.Millisecond)
	}
	shot(t, tab, "failed")
	text, _ := evalJS[string](t, tab, "document.body.innerText")
	t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, expr, err, text)
}

func evalJS[T any](t *testing.T, tab context.Context, expr string) (T, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

func mustJS[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	v, err := evalJS[T](t, tab, expr)
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// shot saves a screenshot when SOVMESH_SCREENSHOTS names a directory.
func shot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	dir := os.Getenv("SOVMESH_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".png")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

// testNIP07Signer stands in for a NIP-07 browser extension (nos2x, Alby)
// in tests: it gives the page a window.nostr whose signEvent calls back into
// the test, which signs with the key it holds. The key never enters the
// page, as with a real extension.
type testNIP07Signer struct{ sk, pk string }

func (s testNIP07Signer) install() chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.ExposeFunc("sovmeshTestSigner", func(_ context.Context, raw string) (string, error) {
			var evt nostr.Event
			if err := json.Unmarshal([]byte(raw), &evt); err != nil {
				return "", fmt.Errorf("test signer: %w", err)
			}
			evt.PubKey = s.pk
			if err := evt.Sign(s.sk); err != nil {
				return "", err
			}
			b, err := json.Marshal(evt)
			return string(b), err
		}),
		chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			src := fmt.Sprintf(`window.nostr = {
  getPublicKey: async () => %q,
  signEvent: async (evt) => JSON.parse(await window.sovmeshTestSigner(JSON.stringify(evt))),
};`, s.pk)
			_, err := cdp.Call(ctx, tgt, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src})
			return err
		}),
	)
}

// TestBrowser is the end-to-end test: a real relay with the marketplace and
// fees, headless Chromium on its pages.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	browser := newBrowser(t)
	seedSK, seedPK := newKey(t) // a key the relay trusts
	e := startEnv(t, seedPK)
	rl := connect(t, e.URL)
	providerSK, providerPK := newKey(t)
	otherSK, otherPK := newKey(t)
	e.prepay(t, providerPK, 30)
	e.prepay(t, otherPK, 30)
	publish(t, rl, presence("u0yjj"), providerSK)
	// The other provider served the trusted key and was paid: it earns trust.
	settle(t, rl, otherSK, seedSK, 5000)
	unpaidSK, _ := newKey(t)
	unpaid := offer("unpaid", nips.Bandwidth, 1, "", "unpaid")
	_ = unpaid.Sign(unpaidSK)
	if err := rl.Publish(t.Context(), unpaid); err == nil {
		t.Fatal("unpaid offer accepted")
	}

	tab := browser
	t.Run("offer published during the test appears", func(t *testing.T) {
		step(t, tab, "load /", chromedp.Navigate(e.HTTP+"/"))
		waitJS(t, tab, "the order book to be live", `document.body.dataset.live === "true" && document.getElementById("status").textContent === "live"`)
		if n := mustJS[int](t, tab, `document.querySelectorAll("#offers tbody tr").length`); n != 0 {
			t.Fatalf("%d offers before any was published", n)
		}
		publish(t, rl, offer("bw-zrh", nips.Bandwidth, 40, "u0yjj", "Zurich relay"), providerSK)
		publish(t, rl, offer("st-zrh", nips.Storage, 2000, "u0yjj", "Zurich blobs"), providerSK)
		publish(t, rl, offer("bw-nyc", nips.Bandwidth, 90, "dr5rs", "New York relay"), otherSK)
		waitJS(t, tab, "three offers", `document.querySelectorAll("#offers tbody tr").length === 3`)
		row := mustJS[string](t, tab, `document.querySelector('tr[data-offer="bw-zrh"]').innerText`)
		for _, want := range []string{"Zurich relay", "40 msat/MiB", "u0yjj", "bandwidth"} {
			if !strings.Contains(row, want) {
				t.Errorf("row %q lacks %q", row, want)
			}
		}
		// Cheapest first (by the largest price component).
		order := mustJS[[]string](t, tab, `[...document.querySelectorAll("#offers tbody tr")].map(r => r.dataset.offer)`)
		if strings.Join(order, ",") != "bw-zrh,bw-nyc,st-zrh" {
			t.Errorf("order %v, want cheapest first", order)
		}
		// Trust comes from the marketplace's book: the provider paid by the
		// trusted key ranks above 0, the other shows 0.
		var nycTrust int
		waitFor(t, "trust for the paid provider", func() bool {
			nycTrust, _ = bookTrust(t, e, otherPK)
			return nycTrust > 0
		})
		step(t, tab, "reload for fresh trust", chromedp.Navigate(e.HTTP+"/"))
		waitJS(t, tab, "trust from /api/book", fmt.Sprintf(`document.querySelector('tr[data-offer="bw-zrh"] td.trust').textContent === "0" && document.querySelector('tr[data-offer="bw-nyc"] td.trust').textContent === "%d"`, nycTrust))
		shot(t, tab, "book")
	})

	visibleOffers := func() string {
		return strings.Join(mustJS[[]string](t, tab, `[...document.querySelectorAll("#offers tbody tr")].map(r => r.dataset.offer)`), ",")
	}
	setSelect := func(id, v string) string {
		return fmt.Sprintf(`(() => { const s = document.getElementById(%q); s.value = %q; s.dispatchEvent(new Event("input", {bubbles: true})); return true })()`, id, v)
	}
	t.Run("filters", func(t *testing.T) {
		cases := []struct {
			name    string
			actions []chromedp.Action[chromedp.Void]
			want    string
		}{
			{"resource storage", []chromedp.Action[chromedp.Void]{chromedp.Evaluate[chromedp.Void](setSelect("f-resource", "storage"))}, "st-zrh"},
			{"bandwidth under 50 msat", []chromedp.Action[chromedp.Void]{
				chromedp.Evaluate[chromedp.Void](setSelect("f-resource", "bandwidth")),
				chromedp.SendKeys(chromedp.ID("f-ceiling"), "50"),
			}, "bw-zrh"},
			{"region dr5, any price", []chromedp.Action[chromedp.Void]{
				chromedp.Evaluate[chromedp.Void](setSelect("f-ceiling", "")),
				chromedp.SendKeys(chromedp.ID("f-region"), "dr5"),
			}, "bw-nyc"},
			{"trust floor 1", []chromedp.Action[chromedp.Void]{
				chromedp.Evaluate[chromedp.Void](setSelect("f-region", "")),
				chromedp.SendKeys(chromedp.ID("f-trust"), "1"),
			}, "bw-nyc"},
			{"trust floor above every provider", []chromedp.Action[chromedp.Void]{
				chromedp.Evaluate[chromedp.Void](setSelect("f-trust", "101")),
			}, ""},
			{"all, sorted by trust then price", []chromedp.Action[chromedp.Void]{
				chromedp.Evaluate[chromedp.Void](setSelect("f-trust", "")),
				chromedp.Evaluate[chromedp.Void](setSelect("f-resource", "")),
				chromedp.Evaluate[chromedp.Void](setSelect("f-sort", "trust")),
			}, "bw-nyc,bw-zrh,st-zrh"},
			{"all, sorted by price", []chromedp.Action[chromedp.Void]{
				chromedp.Evaluate[chromedp.Void](setSelect("f-sort", "price")),
			}, "bw-zrh,bw-nyc,st-zrh"},
		}
		for _, tc := range cases {
			step(t, tab, tc.name, tc.actions...)
			waitJS(t, tab, tc.name, fmt.Sprintf(`[...document.querySelectorAll("#offers tbody tr")].map(r => r.dataset.offer).join(",") === %q`, tc.want))
			if tc.want == "" && mustJS[bool](t, tab, `document.getElementById("empty").hidden`) {
				t.Errorf("%s: no 'no offer matches' message", tc.name)
			}
		}
		// The filters live in the URL: a reload keeps them.
		step(t, tab, "storage link", chromedp.Navigate(e.HTTP+"/?resource=storage"))
		waitJS(t, tab, "storage only after load", `document.body.dataset.live === "true" && [...document.querySelectorAll("#offers tbody tr")].map(r => r.dataset.offer).join(",") === "st-zrh"`)
		if got := visibleOffers(); got != "st-zrh" {
			t.Fatalf("after reload %q", got)
		}
	})

	t.Run("provider page", func(t *testing.T) {
		step(t, tab, "all offers", chromedp.Navigate(e.HTTP+"/"))
		waitJS(t, tab, "three offers", `document.querySelectorAll("#offers tbody tr").length === 3`)
		waitJS(t, tab, "trust loaded", `document.querySelector('tr[data-offer="bw-zrh"] td.trust').textContent !== "–"`)
		click(t, tab, "open the provider", `tr[data-offer="bw-zrh"] a.offer-link`)
		waitJS(t, tab, "the provider page", fmt.Sprintf(`location.pathname === "/provider/%s" && document.body.dataset.live === "true"`, providerPK))
		waitJS(t, tab, "its two offers", `[...document.querySelectorAll("#p-offers tbody tr")].map(r => r.dataset.offer).sort().join(",") === "bw-zrh,st-zrh"`)
		waitJS(t, tab, "presence", `document.getElementById("p-presence").textContent === "online" && document.getElementById("p-uptime").textContent.startsWith("1d 2h")`)
		if got := mustJS[string](t, tab, `document.getElementById("p-load").textContent`); !strings.Contains(got, "load 42%") {
			t.Errorf("load %q", got)
		}
		// A settled session while the page is open: receipt and rating appear.
		buyerSK, buyerPK := newKey(t)
		revt := settle(t, rl, providerSK, buyerSK, 4000)
		att := nips.Attestation{Subject: providerPK, Receipt: revt.ID, Role: nips.RoleProvider, Outcome: nips.Delivered, Settled: 4000, Rating: 90, LatencyMs: 35}
		publish(t, rl, att.ToEvent(nostr.Now()), buyerSK)
		waitJS(t, tab, "the receipt", fmt.Sprintf(`(() => { const r = document.querySelector('tr[data-receipt="%s"]'); return r && r.innerText.includes("yes") && r.innerText.includes("100 MiB") })()`, revt.ID))
		waitJS(t, tab, "the rating", `document.getElementById("p-rating").textContent === "90 / 100" && document.getElementById("p-settled").textContent === "4 sat"`)
		waitJS(t, tab, "no trust (its buyer has none)", `document.getElementById("p-trust").textContent === "–" && document.getElementById("p-trust-note").textContent.startsWith("no trust yet")`)
		shot(t, tab, "provider")
		// The provider paid by the trusted key has its rank from /api/trust.
		rank, _ := bookTrust(t, e, otherPK)
		step(t, tab, "the trusted provider's page", chromedp.Navigate(e.HTTP+"/provider/"+otherPK))
		waitJS(t, tab, "its rank", fmt.Sprintf(`document.getElementById("p-trust").textContent === "%d / 100"`, rank))
		// The buyer's page lists the same receipt, as buyer.
		step(t, tab, "the buyer's page", chromedp.Navigate(e.HTTP+"/provider/"+buyerPK))
		waitJS(t, tab, "the receipt as buyer", fmt.Sprintf(`(() => { const r = document.querySelector('tr[data-receipt="%s"]'); return r && r.cells[1].textContent === "buyer" })()`, revt.ID))
		if got := mustJS[string](t, tab, `document.getElementById("p-settled").textContent`); got != "0 msat" {
			t.Errorf("buyer's settled as provider %q, want 0 msat", got)
		}
	})

	t.Run("withdrawn offer leaves the book", func(t *testing.T) {
		step(t, tab, "all offers", chromedp.Navigate(e.HTTP+"/"))
		waitJS(t, tab, "three offers", `document.body.dataset.live === "true" && document.querySelectorAll("#offers tbody tr").length === 3`)
		del := nostr.Event{Kind: nostr.KindDeletion, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"a", nips.Address(nips.KindOffer, otherPK, "bw-nyc")}}}
		publish(t, rl, del, otherSK)
		waitJS(t, tab, "the New York offer gone", `[...document.querySelectorAll("#offers tbody tr")].map(r => r.dataset.offer).join(",") === "bw-zrh,st-zrh"`)
	})

	t.Run("admin refused without a signer", func(t *testing.T) {
		step(t, tab, "load /admin", chromedp.Navigate(e.HTTP+"/admin"))
		waitJS(t, tab, "a refusal", `!document.getElementById("login").hidden && document.getElementById("auth-msg").textContent.startsWith("Refused: this dashboard is only for the relay operator")`)
		if !mustJS[bool](t, tab, `document.getElementById("dash").hidden && document.getElementById("login-btn").hidden`) {
			t.Fatal("dashboard or login button shown without a signer")
		}
		if got := mustJS[string](t, tab, `document.getElementById("month-earn").textContent`); got != "" {
			t.Fatalf("earnings %q leaked to a stranger", got)
		}
		shot(t, tab, "refused")
	})

	t.Run("admin refused with another key", func(t *testing.T) {
		stranger := newTab(t, browser)
		sk, pk := newKey(t)
		step(t, stranger, "signer", testNIP07Signer{sk, pk}.install())
		step(t, stranger, "load /admin", chromedp.Navigate(e.HTTP+"/admin"))
		waitJS(t, stranger, "the login button", `!document.getElementById("login-btn").hidden`)
		click(t, stranger, "sign in", "#login-btn")
		waitJS(t, stranger, "a refusal naming the key", fmt.Sprintf(`document.getElementById("auth-msg").textContent.includes("not the operator key: signed by %s")`, pk))
		if !mustJS[bool](t, stranger, `document.getElementById("dash").hidden`) {
			t.Fatal("dashboard shown to another key")
		}
	})

	t.Run("admin with the operator key", func(t *testing.T) {
		op := newTab(t, browser)
		step(t, op, "signer", testNIP07Signer{e.operatorSK, e.operatorPK}.install())
		step(t, op, "load /admin", chromedp.Navigate(e.HTTP+"/admin"))
		waitJS(t, op, "the login button", `!document.getElementById("login-btn").hidden`)
		click(t, op, "sign in", "#login-btn")
		waitJS(t, op, "the dashboard", `!document.getElementById("dash").hidden`)
		fee := 3 * offerFee // three paid offers
		checks := map[string]string{
			"month-earn":     fmt.Sprintf("%d sat", fee),
			"wallet-balance": "60 sat",        // two top-ups of 30
			"health":         "1 of 1 online", // the other provider withdrew its offer
			"providers-seen": "1",
			"beacons-fresh":  "1",
		}
		for id, want := range checks {
			if got := mustJS[string](t, op, fmt.Sprintf(`document.getElementById(%q).textContent`, id)); got != want {
				t.Errorf("#%s = %q, want %q", id, got, want)
			}
		}
		if got := mustJS[string](t, op, `document.querySelector('#kinds tr[data-kind="38460"]').innerText`); !strings.Contains(got, "offer") || !strings.HasSuffix(strings.TrimSpace(got), "2") {
			t.Errorf("offers row %q, want 2 offers (3 published, 1 deleted)", got)
		}
		if got := mustJS[string](t, op, `document.querySelector('#rejected tr[data-reason="payment"]').innerText`); !strings.HasSuffix(strings.TrimSpace(got), "1") {
			t.Errorf("rejected row %q, want payment 1", got)
		}
		if hidden := mustJS[bool](t, op, `document.getElementById("peers-empty").hidden`); hidden {
			t.Error("a relay with no peers does not say so")
		}
		if n := mustJS[int](t, op, `document.querySelectorAll("#chart svg g[data-day]").length`); n != 30 {
			t.Errorf("chart has %d days, want 30", n)
		}
		today := time.Now().UTC().Format(time.DateOnly)
		if n := mustJS[int](t, op, fmt.Sprintf(`document.querySelectorAll('#chart g[data-day=%q] rect.bar.pub').length`, today)); n != 1 {
			t.Errorf("no bar for today's earnings")
		}
		if c := mustJS[string](t, op, `document.getElementById("connections").textContent`); c == "" || c == "0" || c == "n/a" {
			t.Errorf("connections %q", c)
		}
		shot(t, op, "dashboard")
		// The session cookie lets a reload in without signing again.
		step(t, op, "reload", chromedp.Navigate(e.HTTP+"/admin"))
		waitJS(t, op, "the dashboard after reload", `!document.getElementById("dash").hidden`)
		// The cookie is HttpOnly: the page's scripts cannot read it.
		if c := mustJS[string](t, op, `document.cookie`); c != "" {
			t.Errorf("document.cookie = %q, want the session cookie hidden", c)
		}
	})
}
