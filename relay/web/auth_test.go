package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"
)

// nip98 returns an Authorization header value for an event signed by sk.
func nip98(t testing.TB, sk string, created time.Time, tags nostr.Tags, edit func(*nostr.Event)) string {
	t.Helper()
	evt := nostr.Event{Kind: nostr.KindHTTPAuth, CreatedAt: nostr.Timestamp(created.Unix()), Tags: tags}
	if err := evt.Sign(sk); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&evt)
	}
	b, err := json.Marshal(evt)
	if err != nil {
		t.Fatal(err)
	}
	return "Nostr " + base64.StdEncoding.EncodeToString(b)
}

func TestVerifyNIP98(t *testing.T) {
	opSK := nostr.GeneratePrivateKey()
	opPK, _ := nostr.GetPublicKey(opSK)
	otherSK := nostr.GeneratePrivateKey()
	now := time.Unix(1_800_000_000, 0)
	const url = "http://relay.test:7447/admin/api/stats?x=1"
	good := nostr.Tags{{"u", url}, {"method", "GET"}}
	body := []byte(`{"a":1}`)
	sum := sha256.Sum256(body)

	cases := []struct {
		name   string
		method string
		body   []byte
		header func(t *testing.T) string
		want   error // nil = accepted
		msg    string
	}{
		{"valid", "GET", nil, func(t *testing.T) string { return nip98(t, opSK, now, good, nil) }, nil, ""},
		{"valid 59s old", "GET", nil, func(t *testing.T) string { return nip98(t, opSK, now.Add(-59*time.Second), good, nil) }, nil, ""},
		{"no header", "GET", nil, func(t *testing.T) string { return "" }, ErrNoAuth, ""},
		{"wrong scheme", "GET", nil, func(t *testing.T) string { return "Bearer abc" }, ErrBadAuth, "Authorization: Nostr"},
		{"not base64", "GET", nil, func(t *testing.T) string { return "Nostr !!!" }, ErrBadAuth, "base64"},
		{"not json", "GET", nil, func(t *testing.T) string { return "Nostr " + base64.StdEncoding.EncodeToString([]byte("{")) }, ErrBadAuth, "JSON"},
		{"too long", "GET", nil, func(t *testing.T) string { return "Nostr " + strings.Repeat("A", maxAuthHeader) }, ErrBadAuth, "longer"},
		{"wrong kind", "GET", nil, func(t *testing.T) string {
			return nip98(t, opSK, now, good, func(e *nostr.Event) { e.Kind = 1; _ = e.Sign(opSK) })
		}, ErrBadAuth, "kind 1"},
		{"too old", "GET", nil, func(t *testing.T) string { return nip98(t, opSK, now.Add(-61*time.Second), good, nil) }, ErrBadAuth, "created_at"},
		{"from the future", "GET", nil, func(t *testing.T) string { return nip98(t, opSK, now.Add(61*time.Second), good, nil) }, ErrBadAuth, "created_at"},
		{"other url", "GET", nil, func(t *testing.T) string {
			return nip98(t, opSK, now, nostr.Tags{{"u", "http://relay.test:7447/admin/api/stats"}, {"method", "GET"}}, nil)
		}, ErrBadAuth, "u tag"},
		{"other host", "GET", nil, func(t *testing.T) string {
			return nip98(t, opSK, now, nostr.Tags{{"u", "http://evil.test:7447/admin/api/stats?x=1"}, {"method", "GET"}}, nil)
		}, ErrBadAuth, "u tag"},
		{"no u", "GET", nil, func(t *testing.T) string { return nip98(t, opSK, now, nostr.Tags{{"method", "GET"}}, nil) }, ErrBadAuth, "u tag"},
		{"wrong method", "POST", nil, func(t *testing.T) string { return nip98(t, opSK, now, good, nil) }, ErrBadAuth, "method"},
		{"bad signature", "GET", nil, func(t *testing.T) string {
			return nip98(t, opSK, now, good, func(e *nostr.Event) { e.Sig = strings.Repeat("0", 128) })
		}, ErrBadAuth, "signature"},
		{"id does not match", "GET", nil, func(t *testing.T) string {
			return nip98(t, opSK, now, good, func(e *nostr.Event) { e.Content = "changed" })
		}, ErrBadAuth, "id"},
		{"other pubkey claimed", "GET", nil, func(t *testing.T) string {
			return nip98(t, otherSK, now, good, func(e *nostr.Event) { e.PubKey = opPK; e.ID = e.GetID() })
		}, ErrBadAuth, "signature"},
		{"not the operator", "GET", nil, func(t *testing.T) string { return nip98(t, otherSK, now, good, nil) }, ErrNotOperator, ""},
		{"body without payload", "POST", body, func(t *testing.T) string {
			return nip98(t, opSK, now, nostr.Tags{{"u", url}, {"method", "POST"}}, nil)
		}, ErrBadAuth, "payload"},
		{"body with wrong payload", "POST", body, func(t *testing.T) string {
			return nip98(t, opSK, now, nostr.Tags{{"u", url}, {"method", "POST"}, {"payload", strings.Repeat("ab", 32)}}, nil)
		}, ErrBadAuth, "payload"},
		{"body with payload", "POST", body, func(t *testing.T) string {
			return nip98(t, opSK, now, nostr.Tags{{"u", url}, {"method", "POST"}, {"payload", hex.EncodeToString(sum[:])}}, nil)
		}, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuthenticator(Config{Operator: opPK, AuthWindow: 60 * time.Second, SessionTTL: time.Hour, MaxSessions: 2}, func() time.Time { return now }, listenAt("http://relay.test:7447"))
			req := httptest.NewRequest(tc.method, url, strings.NewReader(string(tc.body)))
			if h := tc.header(t); h != "" {
				req.Header.Set("Authorization", h)
			}
			pk, err := a.verify(req, tc.body)
			if tc.want == nil {
				if err != nil || pk != opPK {
					t.Fatalf("refused: %v (pubkey %q)", err, pk)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

func TestNIP98ReplayRefused(t *testing.T) {
	opSK := nostr.GeneratePrivateKey()
	opPK, _ := nostr.GetPublicKey(opSK)
	now := time.Unix(1_800_000_000, 0)
	a := newAuthenticator(Config{Operator: opPK, AuthWindow: 60 * time.Second, SessionTTL: time.Hour, MaxSessions: 2}, func() time.Time { return now }, listenAt("http://127.0.0.1:1"))
	const url = "http://127.0.0.1:1/admin/api/login"
	h := nip98(t, opSK, now, nostr.Tags{{"u", url}, {"method", "POST"}}, nil)
	req := func() *http.Request {
		r := httptest.NewRequest("POST", url, nil)
		r.Host = "127.0.0.1:1"
		r.Header.Set("Authorization", h)
		return r
	}
	if _, err := a.verify(req(), nil); err != nil {
		t.Fatalf("first use refused: %v", err)
	}
	if _, err := a.verify(req(), nil); !errors.Is(err, ErrBadAuth) || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("replay: %v, want already used", err)
	}
	// A fresh event for the same request passes.
	h = nip98(t, opSK, now.Add(time.Second), nostr.Tags{{"u", url}, {"method", "POST"}}, nil)
	if _, err := a.verify(req(), nil); err != nil {
		t.Fatalf("second event refused: %v", err)
	}
}

func listenAt(urls ...string) func() []string { return func() []string { return urls } }

// TestNIP98URL: the u tag must name the configured public URL or, without
// one, the listen address, whatever Host and X-Forwarded-* headers the
// request carries.
func TestNIP98URL(t *testing.T) {
	listen := listenAt("http://127.0.0.1:7447", "http://localhost:7447")
	cases := []struct {
		name, base, host, proto, u string
		want                       bool
	}{
		{"listen address", "", "127.0.0.1:7447", "", "http://127.0.0.1:7447/admin/api/stats?a=b", true},
		{"localhost, host in capitals", "", "localhost:7447", "", "http://LOCALHOST:7447/admin/api/stats?a=b", true},
		{"other host named in Host header", "", "evil.test", "", "http://evil.test/admin/api/stats?a=b", false},
		{"other host named in X-Forwarded-Host", "", "127.0.0.1:7447", "https", "https://evil.test/admin/api/stats?a=b", false},
		{"https on the listen port", "", "127.0.0.1:7447", "https", "https://127.0.0.1:7447/admin/api/stats?a=b", false},
		{"other path", "", "127.0.0.1:7447", "", "http://127.0.0.1:7447/admin/api/stats", false},
		{"other query", "", "127.0.0.1:7447", "", "http://127.0.0.1:7447/admin/api/stats?a=c", false},
		{"configured base", "https://relay.example.com/", "127.0.0.1:7447", "", "https://relay.example.com/admin/api/stats?a=b", true},
		{"configured base, default port written", "https://relay.example.com", "127.0.0.1:7447", "", "https://relay.example.com:443/admin/api/stats?a=b", true},
		{"listen address when a base is configured", "https://relay.example.com", "127.0.0.1:7447", "", "http://127.0.0.1:7447/admin/api/stats?a=b", false},
		{"not a url", "", "127.0.0.1:7447", "", "::", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuthenticator(Config{BaseURL: tc.base}, time.Now, listen)
			r := httptest.NewRequest("GET", "/admin/api/stats?a=b", nil)
			r.Host = tc.host
			r.RemoteAddr = "127.0.0.1:5000"
			if tc.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tc.proto)
				r.Header.Set("X-Forwarded-Host", "evil.test")
			}
			if got := a.namesRequest(tc.u, r); got != tc.want {
				t.Fatalf("namesRequest(%q) = %v, want %v", tc.u, got, tc.want)
			}
		})
	}
}

func TestSessions(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	a := newAuthenticator(Config{SessionTTL: time.Hour, MaxSessions: 2}, clock, nil)
	withCookie := func(v string) *http.Request {
		r := httptest.NewRequest("GET", "/admin/api/stats", nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: v})
		return r
	}
	t1, _, err := a.newSession()
	if err != nil {
		t.Fatal(err)
	}
	if !a.session(withCookie(t1)) {
		t.Fatal("fresh session refused")
	}
	if a.session(withCookie(strings.Repeat("0", 64))) || a.session(withCookie("short")) {
		t.Fatal("unknown token accepted")
	}
	now = now.Add(time.Second)
	t2, _, _ := a.newSession()
	now = now.Add(time.Second)
	t3, _, _ := a.newSession() // evicts the oldest (t1)
	if a.session(withCookie(t1)) || !a.session(withCookie(t2)) || !a.session(withCookie(t3)) {
		t.Fatal("max sessions: want the oldest evicted, the others live")
	}
	a.endSession(withCookie(t2))
	if a.session(withCookie(t2)) {
		t.Fatal("ended session still accepted")
	}
	now = now.Add(time.Hour)
	if a.session(withCookie(t3)) {
		t.Fatal("expired session accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	pk := strings.Repeat("ab", 32)
	ok := DefaultConfig()
	ok.Operator = pk
	cases := []struct {
		name string
		edit func(*Config)
		bad  bool
	}{
		{"default with operator", func(*Config) {}, false},
		{"base url", func(c *Config) { c.BaseURL = "https://relay.example.com" }, false},
		{"no operator", func(c *Config) { c.Operator = "" }, true},
		{"npub operator", func(c *Config) { c.Operator = "npub1xyz" }, true},
		{"uppercase operator", func(c *Config) { c.Operator = strings.ToUpper(pk) }, true},
		{"ws base url", func(c *Config) { c.BaseURL = "wss://relay.example.com" }, true},
		{"base url with path", func(c *Config) { c.BaseURL = "https://relay.example.com/x" }, true},
		{"zero window", func(c *Config) { c.AuthWindow = 0 }, true},
		{"huge window", func(c *Config) { c.AuthWindow = time.Hour }, true},
		{"zero sessions", func(c *Config) { c.MaxSessions = 0 }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if tc.bad != (err != nil) || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Fatalf("Validate = %v, want bad=%v", err, tc.bad)
			}
		})
	}
}

// FuzzParseAuthHeader feeds arbitrary Authorization headers to the parser
// and the full check: neither may panic, and nothing random gets in.
func FuzzParseAuthHeader(f *testing.F) {
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	now := time.Unix(1_800_000_000, 0)
	const url = "http://relay.test/admin/api/stats"
	f.Add(nip98(f, sk, now, nostr.Tags{{"u", url}, {"method", "GET"}}, nil))
	f.Add(nip98(f, sk, now, nostr.Tags{{"u", url}, {"method", "GET"}, {"payload", "00"}}, nil))
	f.Add("Nostr ")
	f.Add("nostr e30=")
	f.Add("Nostr eyJraW5kIjoyNzIzNX0=")
	f.Add("Basic dXNlcjpwYXNz")
	f.Fuzz(func(t *testing.T, h string) {
		evt, err := ParseAuthHeader(h)
		if err == nil && evt.Kind != nostr.KindHTTPAuth {
			t.Fatalf("parsed kind %d", evt.Kind)
		}
		a := newAuthenticator(Config{Operator: pk, AuthWindow: time.Minute, SessionTTL: time.Hour, MaxSessions: 1}, func() time.Time { return now }, listenAt("http://relay.test"))
		req := httptest.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", h)
		got, err := a.verify(req, nil)
		if err == nil && got != pk {
			t.Fatalf("accepted for %q", got)
		}
		if err == nil {
			// Only a real signature by the operator gets in; replay must fail.
			if _, err := a.verify(req, nil); err == nil {
				t.Fatal("replay accepted")
			}
		}
	})
}

func TestParsePubkey(t *testing.T) {
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	npub, err := nip19.EncodePublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	nsec, _ := nip19.EncodePrivateKey(sk)
	cases := []struct {
		name, in, want string
	}{
		{"hex", pk, pk},
		{"upper hex", strings.ToUpper(pk), pk},
		{"npub", npub, pk},
		{"npub with spaces", " " + npub + "\n", pk},
		{"broken npub", npub[:len(npub)-1] + map[bool]string{true: "p", false: "q"}[strings.HasSuffix(npub, "q")], ""},
		{"nsec refused", nsec, ""},
		{"short hex", pk[:62], ""},
		{"empty", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePubkey(tc.in)
			if tc.want == "" {
				if err == nil || !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("accepted %q as %q (%v)", tc.in, got, err)
				}
				if tc.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
					// an nsec pasted by mistake must not be echoed into logs
					t.Fatalf("error repeats the input: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
