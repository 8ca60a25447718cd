package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
	"github.com/sovmesh/sovmesh/relay/web"
)

// TestDashboardAPI publishes paid offers, an unpaid one and a beacon on a
// real relay, then reads the dashboard data with and without the operator's
// NIP-98 authorization.
func TestDashboardAPI(t *testing.T) {
	e := startEnv(t)
	rl := connect(t, e.URL)
	providerSK, providerPK := newKey(t)
	e.prepay(t, providerPK, 10)
	publish(t, rl, offer("bw-1", nips.Bandwidth, 40, "u0yjj", "Zurich relay"), providerSK)
	publish(t, rl, offer("st-1", nips.Storage, 2000, "u0yjj", "Zurich blobs"), providerSK)
	publish(t, rl, presence("u0yjj"), providerSK)
	unpaidSK, _ := newKey(t)
	unpaid := offer("x", nips.Bandwidth, 10, "", "unpaid")
	if err := unpaid.Sign(unpaidSK); err != nil {
		t.Fatal(err)
	}
	if err := rl.Publish(t.Context(), unpaid); err == nil || !strings.Contains(err.Error(), "payment-required") {
		t.Fatalf("unpaid offer: %v, want payment-required", err)
	}

	url := e.HTTP + "/admin/api/stats"
	var refusal map[string]string
	if code := get(t, url, "", &refusal); code != http.StatusUnauthorized || !strings.Contains(refusal["error"], "only for the relay operator") {
		t.Fatalf("no auth: %d %v", code, refusal)
	}
	otherSK, otherPK := newKey(t)
	if code := get(t, url, authHeader(t, otherSK, "GET", url), &refusal); code != http.StatusForbidden || !strings.Contains(refusal["error"], otherPK) {
		t.Fatalf("other key: %d %v", code, refusal)
	}
	if code := get(t, url, authHeader(t, e.operatorSK, "GET", e.HTTP+"/admin/api/login"), &refusal); code != http.StatusUnauthorized || !strings.Contains(refusal["error"], "u tag") {
		t.Fatalf("event for another URL: %d %v", code, refusal)
	}

	h := authHeader(t, e.operatorSK, "GET", url)
	var d web.Dashboard
	if code := get(t, url, h, &d); code != http.StatusOK {
		t.Fatalf("operator: %d", code)
	}
	if code := get(t, url, h, &refusal); code != http.StatusUnauthorized || !strings.Contains(refusal["error"], "already used") {
		t.Fatalf("replayed header: %d %v", code, refusal)
	}

	today := time.Now().UTC().Format(time.DateOnly)
	if d.Earnings.MonthSats != 2*offerFee || d.Earnings.Last30DaysSats != 2*offerFee || d.Earnings.MonthEvents != 2 {
		t.Errorf("earnings %+v, want %d sats from 2 events this month", d.Earnings, 2*offerFee)
	}
	if n := len(d.Earnings.Days); n != 30 || d.Earnings.Days[n-1].Day != today || d.Earnings.Days[n-1].Publication != 2*offerFee {
		t.Errorf("chart days: %d, last %+v; want 30 days ending today with %d sats", n, d.Earnings.Days[n-1], 2*offerFee)
	}
	if d.Wallet.BalanceSats != 10 {
		t.Errorf("wallet balance %d, want the 10 sats topped up", d.Wallet.BalanceSats)
	}
	kinds := map[int]int64{}
	for _, k := range d.EventsBy {
		kinds[k.Kind] = k.Count
	}
	if kinds[nips.KindOffer] != 2 || kinds[nips.KindPresence] != 1 {
		t.Errorf("events by kind %v, want 2 offers and 1 beacon", d.EventsBy)
	}
	if d.Connections == nil || *d.Connections < 1 {
		t.Errorf("connections %v, want at least our client", d.Connections)
	}
	rejected := map[string]int64{}
	for _, r := range d.Rejected {
		rejected[r.Reason] = r.Count
	}
	if rejected["payment"] != 1 {
		t.Errorf("rejected %v, want payment: 1", d.Rejected)
	}
	if d.Network.ProvidersSeen != 1 || d.Network.ProvidersOffer != 1 || d.Network.OffersOpen != 2 || d.Network.BeaconsFresh != 1 {
		t.Errorf("network %+v, want 1 provider, 2 offers, 1 fresh beacon", d.Network)
	}
	if d.Operator != e.operatorPK || d.Relay.Pubkey != e.PublicKey() || len(d.Errors) != 0 {
		t.Errorf("operator %s relay %+v errors %v", d.Operator, d.Relay, d.Errors)
	}
}

// TestLoginSession turns one NIP-98 login into a cookie session.
func TestLoginSession(t *testing.T) {
	e := startEnv(t)
	jar := &cookieJar{}
	client := &http.Client{Jar: jar}
	login := e.HTTP + "/admin/api/login"
	post := func(h string) *http.Response {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", login, nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	otherSK, _ := newKey(t)
	if resp := post(authHeader(t, otherSK, "POST", login)); resp.StatusCode != http.StatusForbidden || len(jar.cookies) != 0 {
		t.Fatalf("login with another key: %d, cookies %v", resp.StatusCode, jar.cookies)
	}
	if resp := post(authHeader(t, e.operatorSK, "GET", login)); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login event for GET used on POST: %d", resp.StatusCode)
	}
	resp := post(authHeader(t, e.operatorSK, "POST", login))
	if resp.StatusCode != http.StatusOK || len(jar.cookies) != 1 {
		t.Fatalf("operator login: %d, cookies %v", resp.StatusCode, jar.cookies)
	}
	c := jar.cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/admin" {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/admin", c)
	}
	for i := range 2 { // the session serves several requests
		r, err := client.Get(e.HTTP + "/admin/api/stats")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Fatalf("stats with session (%d): %d", i, r.StatusCode)
		}
	}
	r, err := client.Post(e.HTTP+"/admin/api/logout", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	req, _ := http.NewRequest("GET", e.HTTP+"/admin/api/stats", nil)
	req.AddCookie(c) // the old cookie, kept by an attacker
	r, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("stats after logout with the old cookie: %d", r.StatusCode)
	}
}

type cookieJar struct{ cookies []*http.Cookie }

func (j *cookieJar) SetCookies(_ *neturl.URL, cs []*http.Cookie) {
	for _, c := range cs {
		if c.MaxAge < 0 {
			j.cookies = nil
			continue
		}
		j.cookies = append(j.cookies, c)
	}
}

func (j *cookieJar) Cookies(*neturl.URL) []*http.Cookie { return j.cookies }

// TestRelayStats reads connections and rejections from a real relay, as
// meshrelay gives them to the pages.
func TestRelayStats(t *testing.T) {
	e := startEnv(t)
	var st web.Stats = e.Relay
	if n := st.Connections(); n != 0 {
		t.Fatalf("%d connections before any client", n)
	}
	rl1, _ := connect(t, e.URL), connect(t, e.URL)
	waitFor(t, "2 connections", func() bool { return st.Connections() == 2 })
	sk, _ := newKey(t)
	for i := range 2 {
		evt := offer("o", nips.Bandwidth, uint64(10+i), "", "unpaid")
		if err := evt.Sign(sk); err != nil {
			t.Fatal(err)
		}
		if err := rl1.Publish(t.Context(), evt); err == nil {
			t.Fatal("unpaid offer accepted")
		}
	}
	if got := st.RejectedByReason(); got["payment"] != 2 {
		t.Fatalf("rejected %v, want payment: 2", got)
	}
}

// TestPages checks routes, headers and that no page refers to another host.
func TestPages(t *testing.T) {
	e := startEnv(t)
	pk := strings.Repeat("ab", 32)
	cases := []struct {
		path, ctype, contains string
		status                int
	}{
		{"/", "text/html", `id="offers"`, 200},
		{"/?resource=storage", "text/html", `id="offers"`, 200},
		{"/provider/" + pk, "text/html", `id="p-offers"`, 200},
		{"/provider/npub1abc", "text/plain", "64-character", 404},
		{"/provider/" + strings.ToUpper(pk), "text/plain", "64-character", 404},
		{"/admin", "text/html", `id="login-btn"`, 200},
		{"/static/book.js", "text/javascript", "SM.Relay", 200},
		{"/static/style.css", "text/css", "--accent", 200},
		{"/static/index.html", "text/plain", "", 404},
		{"/static/", "text/plain", "", 404},
		{"/healthz", "text/plain", "ok", 200},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(e.HTTP + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(b), tc.contains) {
				t.Fatalf("%d %s %.80q; want %d %s containing %q", resp.StatusCode, resp.Header.Get("Content-Type"), b, tc.status, tc.ctype, tc.contains)
			}
			if tc.status == 200 && tc.ctype == "text/html" && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Fatalf("no CSP: %q", resp.Header.Get("Content-Security-Policy"))
			}
		})
	}
	// The websocket still answers at / (the pages do not shadow it).
	rl := connect(t, e.URL)
	if _, err := rl.QuerySync(t.Context(), nostr.Filter{Kinds: []int{nips.KindOffer}, Limit: 1}); err != nil {
		t.Fatalf("websocket REQ at /: %v", err)
	}
}

// TestNoOtherHosts scans the embedded files: every URL they hold is
// same-origin (the SVG namespace name is not fetched).
func TestNoOtherHosts(t *testing.T) {
	abs := regexp.MustCompile(`(?i)(https?:|wss?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	cssLoads := regexp.MustCompile(`(?i)@import|url\(`)
	n := 0
	err := fs.WalkDir(os.DirFS("static"), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := os.ReadFile(filepath.Join("static", path))
		if err != nil {
			return err
		}
		found := abs.FindAllString(string(b), -1)
		if strings.HasSuffix(path, ".css") {
			found = append(found, cssLoads.FindAllString(string(b), -1)...)
		}
		for _, m := range found {
			if m == "http://www.w3.org" {
				continue
			}
			t.Errorf("%s refers to %q", path, m)
		}
		return nil
	})
	if err != nil || n < 7 {
		t.Fatalf("walked %d files: %v", n, err)
	}
}

// TestDashboardWithoutSources: a relay with no fee collector, wallet or
// counters says so instead of showing zeros.
func TestDashboardWithoutSources(t *testing.T) {
	e := startEnv(t)
	sk, pk := newKey(t)
	cfg := web.DefaultConfig()
	cfg.Operator = pk
	st, _ := e.Store().(web.Store)
	var srv *httptest.Server
	bare, err := web.New(cfg, st, web.WithLogger(quiet()), web.WithListenURLs(func() []string { return []string{srv.URL} }))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	bare.Register(mux)
	srv = httptest.NewServer(mux)
	defer srv.Close()
	url := srv.URL + "/admin/api/stats"
	var raw map[string]any
	if code := get(t, url, authHeader(t, sk, "GET", url), &raw); code != http.StatusOK {
		t.Fatalf("status %d: %v", code, raw)
	}
	avail, _ := raw["available"].(map[string]any)
	if avail["earnings"] != false || avail["wallet"] != false || avail["stats"] != false || raw["connections"] != nil {
		t.Fatalf("available %v connections %v, want all false and null", avail, raw["connections"])
	}
}

// TestTrustEndpoint serves /api/trust from the relay's view of trust
// (env.storeTrust) and checks it against the rank the marketplace's book
// shows.
func TestTrustEndpoint(t *testing.T) {
	seedSK, seedPK := newKey(t)
	e := startEnv(t, seedPK)
	rl := connect(t, e.URL)
	provSK, provPK := newKey(t)
	e.prepay(t, provPK, 10)
	publish(t, rl, offer("o", nips.Bandwidth, 40, "", "x"), provSK)
	settle(t, rl, provSK, seedSK, 5000)
	cfg := web.DefaultConfig()
	cfg.Operator = e.operatorPK
	st, _ := e.Store().(web.Store)
	pages, err := web.New(cfg, st, web.WithLogger(quiet()), web.WithListenURLs(func() []string { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	without := httptest.NewServer(mux)
	defer without.Close()
	srv := struct{ URL string }{e.HTTP} // the env's pages have WithTrust

	var bookRank int
	waitFor(t, "the marketplace to rank the provider", func() bool {
		bookRank, _ = bookTrust(t, e, provPK)
		return bookRank > 0
	})
	type answer struct {
		Pubkey string `json:"pubkey"`
		Rank   int    `json:"rank"`
		Known  bool   `json:"known"`
	}
	var a answer
	if code := get(t, srv.URL+"/api/trust/"+provPK, "", &a); code != 200 || a.Pubkey != provPK || !a.Known || a.Rank != bookRank {
		t.Fatalf("%d %+v, want known with the book's rank %d", code, a, bookRank)
	}
	_, stranger := newKey(t)
	a = answer{}
	if code := get(t, srv.URL+"/api/trust/"+stranger, "", &a); code != 200 || a.Known || a.Rank != 0 {
		t.Fatalf("stranger: %d %+v", code, a)
	}
	if code := get(t, srv.URL+"/api/trust/xyz", "", nil); code != http.StatusNotFound {
		t.Fatalf("bad pubkey: %d", code)
	}
	// Without WithTrust the route is absent, and the pages use /api/book.
	if code := get(t, without.URL+"/api/trust/"+provPK, "", nil); code != http.StatusNotFound {
		t.Fatalf("route without WithTrust: %d", code)
	}
}

// TestDashboardPeers: the dashboard shows each peer relay (--peers) with its
// state, last reconciliation and the events exchanged.
func TestDashboardPeers(t *testing.T) {
	peer := relaytest.New(t, nil)
	e := startEnvWith(t, func(c *relay.Config) { c.Peers, c.PeerKinds = []string{peer.URL}, []int{1} })
	evt := nostr.Event{Kind: 1, CreatedAt: nostr.Now(), Content: "from the peer"}
	sk, _ := newKey(t)
	if err := evt.Sign(sk); err != nil {
		t.Fatal(err)
	}
	if err := peer.Publish(t.Context(), &evt); err != nil {
		t.Fatal(err)
	}
	url := e.HTTP + "/admin/api/stats"
	var d web.Dashboard
	waitFor(t, "the peer connected and reconciled", func() bool {
		d = web.Dashboard{}
		if code := get(t, url, authHeader(t, e.operatorSK, "GET", url), &d); code != http.StatusOK {
			t.Fatalf("operator: %d", code)
		}
		return len(d.Peers) == 1 && d.Peers[0].Connected && d.Peers[0].LastSync > 0
	})
	if d.Peers[0].URL != peer.URL {
		t.Fatalf("peers %+v, want %s", d.Peers, peer.URL)
	}
}
