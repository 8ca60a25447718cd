package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/browsertest"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
)

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
	browser := browsertest.New(t)
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
		browsertest.Step(t, tab, "load /", chromedp.Navigate(e.HTTP+"/"))
		browsertest.WaitJS(t, tab, "the order book to be live", `document.body.dataset.live === "true" && document.getElementById("status").textContent === "live"`)
		if n := browsertest.Must[int](t, tab, `document.querySelectorAll("#offers tbody tr").length`); n != 0 {
			t.Fatalf("%d offers before any was published", n)
		}
		publish(t, rl, offer("bw-zrh", nips.Bandwidth, 40, "u0yjj", "Zurich relay"), providerSK)
		publish(t, rl, offer("st-zrh", nips.Storage, 2000, "u0yjj", "Zurich blobs"), providerSK)
		publish(t, rl, offer("bw-nyc", nips.Bandwidth, 90, "dr5rs", "New York relay"), otherSK)
		browsertest.WaitJS(t, tab, "three offers", `document.querySelectorAll("#offers tbody tr").length === 3`)
		row := browsertest.Must[string](t, tab, `document.querySelector('tr[data-offer="bw-zrh"]').innerText`)
		for _, want := range []string{"Zurich relay", "0.04 sat/MiB", "u0yjj", "bandwidth"} {
			if !strings.Contains(row, want) {
				t.Errorf("row %q lacks %q", row, want)
			}
		}
		// Cheapest first (by the largest price component).
		order := browsertest.Must[[]string](t, tab, `[...document.querySelectorAll("#offers tbody tr")].map(r => r.dataset.offer)`)
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
		browsertest.Step(t, tab, "reload for fresh trust", chromedp.Navigate(e.HTTP+"/"))
		browsertest.WaitJS(t, tab, "trust from /api/book", fmt.Sprintf(`document.querySelector('tr[data-offer="bw-zrh"] td.trust').textContent === "0" && document.querySelector('tr[data-offer="bw-nyc"] td.trust').textContent === "%d"`, nycTrust))
		browsertest.Shot(t, tab, "book")
	})

	visibleOffers := func() string {
		return strings.Join(browsertest.Must[[]string](t, tab, `[...document.querySelectorAll("#offers tbody tr")].map(r => r.dataset.offer)`), ",")
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
			{"bandwidth under 0.05 sat", []chromedp.Action[chromedp.Void]{
				chromedp.Evaluate[chromedp.Void](setSelect("f-resource", "bandwidth")),
				chromedp.SendKeys(chromedp.ID("f-ceiling"), "0.05"),
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
			browsertest.Step(t, tab, tc.name, tc.actions...)
			browsertest.WaitJS(t, tab, tc.name, fmt.Sprintf(`[...document.querySelectorAll("#offers tbody tr")].map(r => r.dataset.offer).join(",") === %q`, tc.want))
			if tc.want == "" && browsertest.Must[bool](t, tab, `document.getElementById("empty").hidden`) {
				t.Errorf("%s: no 'no offer matches' message", tc.name)
			}
		}
		// The filters live in the URL: a reload keeps them.
		browsertest.Step(t, tab, "storage link", chromedp.Navigate(e.HTTP+"/?resource=storage"))
		browsertest.WaitJS(t, tab, "storage only after load", `document.body.dataset.live === "true" && [...document.querySelectorAll("#offers tbody tr")].map(r => r.dataset.offer).join(",") === "st-zrh"`)
		if got := visibleOffers(); got != "st-zrh" {
			t.Fatalf("after reload %q", got)
		}
	})

	t.Run("provider page", func(t *testing.T) {
		browsertest.Step(t, tab, "all offers", chromedp.Navigate(e.HTTP+"/"))
		browsertest.WaitJS(t, tab, "three offers", `document.querySelectorAll("#offers tbody tr").length === 3`)
		browsertest.WaitJS(t, tab, "trust loaded", `document.querySelector('tr[data-offer="bw-zrh"] td.trust').textContent !== "–"`)
		browsertest.Click(t, tab, "open the provider", `tr[data-offer="bw-zrh"] a.offer-link`)
		browsertest.WaitJS(t, tab, "the provider page", fmt.Sprintf(`location.pathname === "/provider/%s" && document.body.dataset.live === "true"`, providerPK))
		browsertest.WaitJS(t, tab, "its two offers", `[...document.querySelectorAll("#p-offers tbody tr")].map(r => r.dataset.offer).sort().join(",") === "bw-zrh,st-zrh"`)
		browsertest.WaitJS(t, tab, "presence", `document.getElementById("p-presence").textContent === "online" && document.getElementById("p-uptime").textContent.startsWith("1d 2h")`)
		if got := browsertest.Must[string](t, tab, `document.getElementById("p-load").textContent`); !strings.Contains(got, "load 42%") {
			t.Errorf("load %q", got)
		}
		// A settled session while the page is open: receipt and rating appear.
		buyerSK, buyerPK := newKey(t)
		revt := settle(t, rl, providerSK, buyerSK, 4000)
		att := nips.Attestation{Subject: providerPK, Receipt: revt.ID, Role: nips.RoleProvider, Outcome: nips.Delivered, Settled: 4000, Rating: 90, LatencyMs: 35}
		publish(t, rl, att.ToEvent(nostr.Now()), buyerSK)
		browsertest.WaitJS(t, tab, "the receipt", fmt.Sprintf(`(() => { const r = document.querySelector('tr[data-receipt="%s"]'); return r && r.innerText.includes("yes") && r.innerText.includes("100 MiB") })()`, revt.ID))
		browsertest.WaitJS(t, tab, "the rating", `document.getElementById("p-rating").textContent === "90 / 100" && document.getElementById("p-settled").textContent === "4 sat"`)
		browsertest.WaitJS(t, tab, "no trust (its buyer has none)", `document.getElementById("p-trust").textContent === "–" && document.getElementById("p-trust-note").textContent.startsWith("no trust yet")`)
		browsertest.Shot(t, tab, "provider")
		// The provider paid by the trusted key has its rank from /api/trust.
		rank, _ := bookTrust(t, e, otherPK)
		browsertest.Step(t, tab, "the trusted provider's page", chromedp.Navigate(e.HTTP+"/provider/"+otherPK))
		browsertest.WaitJS(t, tab, "its rank", fmt.Sprintf(`document.getElementById("p-trust").textContent === "%d / 100"`, rank))
		// The buyer's page lists the same receipt, as buyer.
		browsertest.Step(t, tab, "the buyer's page", chromedp.Navigate(e.HTTP+"/provider/"+buyerPK))
		browsertest.WaitJS(t, tab, "the receipt as buyer", fmt.Sprintf(`(() => { const r = document.querySelector('tr[data-receipt="%s"]'); return r && r.cells[1].textContent === "buyer" })()`, revt.ID))
		// Settled as provider fills in with the page's other figures, not
		// with the receipts list: wait for it to leave "loading…".
		browsertest.WaitJS(t, tab, "settled as provider loaded", `document.getElementById("p-settled").textContent !== "loading…"`)
		if got := browsertest.Must[string](t, tab, `document.getElementById("p-settled").textContent`); got != "0 sat" {
			t.Errorf("buyer's settled as provider %q, want 0 sat", got)
		}
	})

	// A storage session that stored 3 MB: its receipt rounds up to 1 GiB
	// and gives the exact bytes.
	buyerSK, _ := newKey(t)
	stored := settleReceipt(t, rl, providerSK, buyerSK, nips.Receipt{Resource: nips.Storage, Delivered: 1, Bytes: 3_000_000, Paid: 2000})
	t.Run("units, layout and loading at phone and desktop widths", func(t *testing.T) {
		text := func(tab context.Context, css string) string {
			return browsertest.Must[string](t, tab, fmt.Sprintf(`(document.querySelector(%q) || {textContent: "missing"}).textContent`, css))
		}
		title := func(tab context.Context, css string) string {
			return browsertest.Must[string](t, tab, fmt.Sprintf(`(document.querySelector(%q) || {title: "missing"}).title`, css))
		}
		for _, width := range []int{browsertest.Phone, browsertest.Desktop, browsertest.Wide} {
			t.Run(fmt.Sprintf("%dpx", width), func(t *testing.T) {
				browsertest.Width(t, tab, width)
				browsertest.Step(t, tab, "all offers", chromedp.Navigate(e.HTTP+"/"))
				browsertest.WaitJS(t, tab, "three offers with trust", `document.querySelectorAll("#offers tbody tr").length === 3 && document.querySelector('tr[data-offer="bw-zrh"] td.trust').textContent !== "–"`)
				// The provider column is whole: nothing is cut off or
				// scrolled out of sight, and the page does not scroll sideways.
				cut := browsertest.Must[[]string](t, tab, `[...document.querySelectorAll("#offers td.provider a")].filter((a) => {
					const r = a.getBoundingClientRect();
					return r.width === 0 || r.left < 0 || r.right > document.documentElement.clientWidth;
				}).map((a) => a.closest("tr").dataset.offer)`)
				if len(cut) > 0 {
					t.Errorf("provider cut off in rows %v", cut)
				}
				if browsertest.Must[bool](t, tab, `document.documentElement.scrollWidth > document.documentElement.clientWidth || [...document.querySelectorAll(".scroll")].some((s) => s.scrollWidth > s.clientWidth)`) {
					t.Error("the offers scroll sideways")
				}
				// One unit, sats, human; the exact value on hover.
				cells := []struct{ css, text, title string }{
					{`tr[data-offer="bw-zrh"] td.price span`, "0.04 sat/MiB", "40 msat per MiB"},
					{`tr[data-offer="st-zrh"] td.price span`, "2 sat/GiB·day", "2,000 msat = 2 sat per GiB-day"},
					{`tr[data-offer="st-zrh"] td.capacity span`, "4 TiB", "4,096 GiB"},
					{`tr[data-offer="st-zrh"] td.qty span`, "1 GiB – 512 GiB", "1 GiB – 512 GiB"},
					{`tr[data-offer="bw-zrh"] td.qty span`, "10 MiB – 97.7 GiB", "10 MiB – 100,000 MiB"},
				}
				for _, c := range cells {
					if got := text(tab, c.css); got != c.text {
						t.Errorf("%s = %q, want %q", c.css, got, c.text)
					}
					if got := title(tab, c.css); got != c.title {
						t.Errorf("%s title %q, want %q", c.css, got, c.title)
					}
				}
				if got := browsertest.Must[string](t, tab, `document.querySelector(".lead").textContent`); !strings.Contains(got, "in sats") {
					t.Errorf("the header does not say sats: %q", got)
				}
				browsertest.Shot(t, tab, "book")

				// The provider page: the receipt says what was delivered.
				browsertest.Step(t, tab, "the provider's page", chromedp.Navigate(e.HTTP+"/provider/"+providerPK))
				row := fmt.Sprintf(`tr[data-receipt="%s"] td.delivered span`, stored.ID)
				browsertest.WaitJS(t, tab, "the storage receipt", fmt.Sprintf(`document.body.dataset.live === "true" && !!document.querySelector('%s')`, row))
				if got, tt := text(tab, row), title(tab, row); got != "2.9 MiB" || tt != "3,000,000 bytes" {
					t.Errorf("delivered %q (title %q), want 2.9 MiB (3,000,000 bytes)", got, tt)
				}
				if got, tt := text(tab, "#p-settled"), title(tab, "#p-settled"); got != "6 sat" || tt != "6,000 msat = 6 sat" {
					t.Errorf("settled %q (title %q), want 6 sat", got, tt)
				}
				if browsertest.Must[bool](t, tab, `document.documentElement.scrollWidth > document.documentElement.clientWidth`) {
					t.Error("the provider page scrolls sideways")
				}
				browsertest.Shot(t, tab, "provider")

				// Before the relay answers, every figure says it is loading
				// (a WebSocket that never opens stands in for a slow relay).
				slow := browsertest.Tab(t, browser)
				browsertest.Width(t, slow, width)
				browsertest.Step(t, slow, "a relay that never answers", chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
					_, err := cdp.Call(ctx, tgt, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
						Source: `window.WebSocket = function () { return { send() {}, close() {} }; };`})
					return err
				}))
				browsertest.Step(t, slow, "the provider's page", chromedp.Navigate(e.HTTP+"/provider/"+providerPK))
				browsertest.WaitJS(t, slow, "the page's script", `document.getElementById("p-key").textContent.length === 64`)
				for _, id := range []string{"p-presence", "p-uptime", "p-settled", "p-trust", "p-rating", "p-receipts-empty", "p-offers-empty", "p-attestations-empty"} {
					got := browsertest.Must[string](t, slow, fmt.Sprintf(`(() => { const e = document.getElementById(%q); return e.hidden ? "(hidden)" : e.textContent })()`, id))
					if got != "loading…" {
						t.Errorf("#%s = %q before the relay answered, want loading…", id, got)
					}
				}
				browsertest.Shot(t, slow, "provider-loading")
				browsertest.Step(t, slow, "the offers", chromedp.Navigate(e.HTTP+"/"))
				browsertest.WaitJS(t, slow, "the page's script", `document.getElementById("status").textContent === "connecting…"`)
				if got := text(slow, "#count"); got != "loading…" {
					t.Errorf("offer count %q before the relay answered", got)
				}
				if !browsertest.Must[bool](t, slow, `document.getElementById("empty").hidden`) {
					t.Error("'no offer matches' shown before the relay answered")
				}
			})
		}
		browsertest.Width(t, tab, browsertest.Desktop)
	})

	t.Run("withdrawn offer leaves the book", func(t *testing.T) {
		browsertest.Step(t, tab, "all offers", chromedp.Navigate(e.HTTP+"/"))
		browsertest.WaitJS(t, tab, "three offers", `document.body.dataset.live === "true" && document.querySelectorAll("#offers tbody tr").length === 3`)
		del := nostr.Event{Kind: nostr.KindDeletion, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"a", nips.Address(nips.KindOffer, otherPK, "bw-nyc")}}}
		publish(t, rl, del, otherSK)
		browsertest.WaitJS(t, tab, "the New York offer gone", `[...document.querySelectorAll("#offers tbody tr")].map(r => r.dataset.offer).join(",") === "bw-zrh,st-zrh"`)
	})

	t.Run("admin refused without a signer", func(t *testing.T) {
		browsertest.Step(t, tab, "load /admin", chromedp.Navigate(e.HTTP+"/admin"))
		browsertest.WaitJS(t, tab, "a refusal", `!document.getElementById("login").hidden && document.getElementById("auth-msg").textContent.startsWith("Refused: this dashboard is only for the relay operator")`)
		if !browsertest.Must[bool](t, tab, `document.getElementById("dash").hidden && document.getElementById("login-btn").hidden`) {
			t.Fatal("dashboard or login button shown without a signer")
		}
		if got := browsertest.Must[string](t, tab, `document.getElementById("month-earn").textContent`); got != "" {
			t.Fatalf("earnings %q leaked to a stranger", got)
		}
		browsertest.Shot(t, tab, "refused")
	})

	t.Run("admin refused with another key", func(t *testing.T) {
		stranger := browsertest.Tab(t, browser)
		sk, pk := newKey(t)
		browsertest.Step(t, stranger, "signer", testNIP07Signer{sk, pk}.install())
		browsertest.Step(t, stranger, "load /admin", chromedp.Navigate(e.HTTP+"/admin"))
		browsertest.WaitJS(t, stranger, "the login button", `!document.getElementById("login-btn").hidden`)
		browsertest.Click(t, stranger, "sign in", "#login-btn")
		browsertest.WaitJS(t, stranger, "a refusal naming the key", fmt.Sprintf(`document.getElementById("auth-msg").textContent.includes("not the operator key: signed by %s")`, pk))
		if !browsertest.Must[bool](t, stranger, `document.getElementById("dash").hidden`) {
			t.Fatal("dashboard shown to another key")
		}
	})

	t.Run("admin with the operator key", func(t *testing.T) {
		op := browsertest.Tab(t, browser)
		browsertest.Step(t, op, "signer", testNIP07Signer{e.operatorSK, e.operatorPK}.install())
		browsertest.Step(t, op, "load /admin", chromedp.Navigate(e.HTTP+"/admin"))
		browsertest.WaitJS(t, op, "the login button", `!document.getElementById("login-btn").hidden`)
		browsertest.Click(t, op, "sign in", "#login-btn")
		browsertest.WaitJS(t, op, "the dashboard", `!document.getElementById("dash").hidden`)
		fee := 3 * offerFee // three paid offers
		checks := map[string]string{
			"month-earn":     fmt.Sprintf("%d sat", fee),
			"wallet-balance": "60 sat",        // two top-ups of 30
			"health":         "1 of 1 online", // the other provider withdrew its offer
			"providers-seen": "1",
			"beacons-fresh":  "1",
		}
		for id, want := range checks {
			if got := browsertest.Must[string](t, op, fmt.Sprintf(`document.getElementById(%q).textContent`, id)); got != want {
				t.Errorf("#%s = %q, want %q", id, got, want)
			}
		}
		if got := browsertest.Must[string](t, op, `document.querySelector('#kinds tr[data-kind="38460"]').innerText`); !strings.Contains(got, "offer") || !strings.HasSuffix(strings.TrimSpace(got), "2") {
			t.Errorf("offers row %q, want 2 offers (3 published, 1 deleted)", got)
		}
		if got := browsertest.Must[string](t, op, `document.querySelector('#rejected tr[data-reason="payment"]').innerText`); !strings.HasSuffix(strings.TrimSpace(got), "1") {
			t.Errorf("rejected row %q, want payment 1", got)
		}
		if hidden := browsertest.Must[bool](t, op, `document.getElementById("peers-empty").hidden`); hidden {
			t.Error("a relay with no peers does not say so")
		}
		if n := browsertest.Must[int](t, op, `document.querySelectorAll("#chart svg g[data-day]").length`); n != 30 {
			t.Errorf("chart has %d days, want 30", n)
		}
		today := time.Now().UTC().Format(time.DateOnly)
		if n := browsertest.Must[int](t, op, fmt.Sprintf(`document.querySelectorAll('#chart g[data-day=%q] rect.bar.pub').length`, today)); n != 1 {
			t.Errorf("no bar for today's earnings")
		}
		if c := browsertest.Must[string](t, op, `document.getElementById("connections").textContent`); c == "" || c == "0" || c == "n/a" {
			t.Errorf("connections %q", c)
		}
		browsertest.Shot(t, op, "dashboard")
		// The session cookie lets a reload in without signing again.
		browsertest.Step(t, op, "reload", chromedp.Navigate(e.HTTP+"/admin"))
		browsertest.WaitJS(t, op, "the dashboard after reload", `!document.getElementById("dash").hidden`)
		// The cookie is HttpOnly: the page's scripts cannot read it.
		if c := browsertest.Must[string](t, op, `document.cookie`); c != "" {
			t.Errorf("document.cookie = %q, want the session cookie hidden", c)
		}
	})
}

// settleReceipt publishes a countersigned receipt r of providerSK's with
// buyerSK (its session, match, buyer and payment filled in).
func settleReceipt(t *testing.T, rl *nostr.Relay, providerSK, buyerSK string, r nips.Receipt) nostr.Event {
	t.Helper()
	providerPK, _ := nostr.GetPublicKey(providerSK)
	seq := fmt.Sprintf("%064x", time.Now().UnixNano())
	r.Session, r.Match = seq, seq
	r.Buyer, _ = nostr.GetPublicKey(buyerSK)
	r.Payment = nips.Payment{Method: nips.PayCashu, Mint: nipstest.Mint, Unit: "sat"}
	evt := r.ToEvent(nostr.Now())
	evt.PubKey = providerPK
	sig, err := nips.Countersign(&evt, buyerSK)
	if err != nil {
		t.Fatal(err)
	}
	r.Countersig = sig
	return publish(t, rl, r.ToEvent(evt.CreatedAt), providerSK)
}
