// Package web serves the relay's own web pages: the offer browser at / (a
// live order book read from the relay over its websocket, filters, provider
// pages) and the operator dashboard at /admin (fee earnings per day, events
// by kind, connections, rejections by reason, network health, the relay
// wallet's balance), reachable only with the operator's key by NIP-98 HTTP
// auth.
//
// The pages are plain HTML, CSS and JavaScript embedded in the binary; they
// load nothing from other hosts (a Content-Security-Policy forbids it).
//
//	srv, err := web.New(cfg, store, web.WithStats(stats), web.WithEarnings(collector), web.WithWallet(wallet),
//		web.WithListenURLs(func() []string { return relay.ListenURLs("http") }))
//	srv.Register(relay.Mux())
package web

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/sovmesh/sovmesh/internal/webunits"
)

//go:embed static
var staticFiles embed.FS

// Config tunes the web pages. Get one from DefaultConfig.
type Config struct {
	// Operator is the hex pubkey allowed into /admin (required). meshrelay
	// defaults it to the relay's own key.
	Operator string
	// BaseURL is the http(s) origin clients use to reach the relay, such as
	// https://relay.example.com, against which the "u" tag of NIP-98 events
	// is checked. Empty: the u tag must name the relay's listen address
	// (WithListenURLs); the request's Host and X-Forwarded-* headers are
	// never used, as the client chooses them.
	BaseURL string
	// AuthWindow is how far the created_at of a NIP-98 event may be from now.
	AuthWindow time.Duration
	// SessionTTL is how long an operator login lasts before the page asks
	// for a new signature.
	SessionTTL time.Duration
	// MaxSessions bounds the operator sessions kept in memory; the oldest
	// goes first.
	MaxSessions int
}

// DefaultConfig returns the defaults: a 60-second NIP-98 window, 12-hour
// operator sessions, at most 64 of them.
func DefaultConfig() Config {
	return Config{AuthWindow: 60 * time.Second, SessionTTL: 12 * time.Hour, MaxSessions: 64}
}

// ErrInvalidConfig is wrapped by Validate's errors.
var ErrInvalidConfig = errors.New("invalid web configuration")

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if !nostr.IsValid32ByteHex(c.Operator) {
		return fmt.Errorf("%w: operator is not a 64-character lowercase hex pubkey", ErrInvalidConfig)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("%w: base URL %q: want http(s)://host[:port]", ErrInvalidConfig, c.BaseURL)
		}
	}
	if c.AuthWindow <= 0 || c.AuthWindow > 10*time.Minute {
		return fmt.Errorf("%w: auth window %s: want more than 0 and at most 10m", ErrInvalidConfig, c.AuthWindow)
	}
	if c.SessionTTL <= 0 {
		return fmt.Errorf("%w: session TTL must be positive", ErrInvalidConfig)
	}
	if c.MaxSessions < 1 {
		return fmt.Errorf("%w: max sessions must be at least 1", ErrInvalidConfig)
	}
	return nil
}

// Server serves the pages and their JSON endpoints.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    Store
	stats    Stats
	earnings Earnings
	wallet   Wallet
	info     func() RelayInfo
	trust    TrustFunc
	auth     *authenticator
	static   fs.FS

	listenURLs func() []string

	netMu sync.Mutex // one scan at a time; guards net and netAt
	net   NetworkHealth
	netAt time.Time
}

// Option changes how New builds a Server.
type Option func(*Server)

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithStats gives the dashboard the relay's live counters. Without it the
// dashboard says connections and rejections are not available.
func WithStats(st Stats) Option { return func(s *Server) { s.stats = st } }

// WithEarnings gives the dashboard the fee collector. Without it the
// dashboard says the relay charges no fees.
func WithEarnings(e Earnings) Option { return func(s *Server) { s.earnings = e } }

// WithWallet gives the dashboard the relay wallet. Without it the dashboard
// says the relay has no wallet.
func WithWallet(w Wallet) Option { return func(s *Server) { s.wallet = w } }

// TrustFunc returns a key's trust rank (0-100) in the relay's view and
// whether the key has any trust at all.
type TrustFunc func(pubkey string) (rank int, known bool)

// WithTrust serves GET /api/trust/{pubkey} from f, so provider pages show the
// rank of keys with no open offer. Without it they read ranks from the
// marketplace's /api/book.
func WithTrust(f TrustFunc) Option { return func(s *Server) { s.trust = f } }

// WithRelayInfo names the relay on the dashboard.
func WithRelayInfo(f func() RelayInfo) Option { return func(s *Server) { s.info = f } }

// WithListenURLs gives the http:// URLs naming the address the relay listens
// on (relay.Relay.ListenURLs("http")): when Config.BaseURL is empty, NIP-98
// logins are accepted only for them. New fails with neither.
func WithListenURLs(f func() []string) Option { return func(s *Server) { s.listenURLs = f } }

// New validates cfg and returns a Server reading events from store.
func New(cfg Config, store Store, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, fmt.Errorf("%w: no event store", ErrInvalidConfig)
	}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, fmt.Errorf("embedded pages: %w", err)
	}
	s := &Server{cfg: cfg, log: slog.Default(), store: store, static: static,
		info: func() RelayInfo { return RelayInfo{} }}
	for _, o := range opts {
		o(s)
	}
	if cfg.BaseURL == "" && s.listenURLs == nil {
		return nil, fmt.Errorf("%w: no base URL and no listen URLs: NIP-98 logins would have no URL to check", ErrInvalidConfig)
	}
	if cfg.BaseURL != "" {
		s.log.Info("NIP-98 operator logins accepted for the public URL only", "url", cfg.BaseURL)
	} else {
		s.log.Info("no --public-url: NIP-98 operator logins accepted only for URLs naming the relay's listen address")
	}
	s.auth = newAuthenticator(cfg, time.Now, s.listenURLs)
	return s, nil
}

// Register adds the pages and endpoints to mux (the relay's Mux):
//
//	GET  /                     offer browser
//	GET  /provider/{pubkey}    provider page (hex pubkey)
//	GET  /static/...           the pages' CSS and JavaScript (units.js from internal/webunits)
//	GET  /api/trust/{pubkey}   a key's trust rank (only WithTrust)
//	GET  /admin                operator dashboard (the data needs operator auth)
//	POST /admin/api/login      NIP-98 login: sets a session cookie
//	POST /admin/api/logout     ends the session
//	GET  /admin/api/stats      dashboard data (session cookie or NIP-98 header)
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.page("index.html"))
	mux.HandleFunc("GET /provider/{pubkey}", s.servePublicProvider)
	mux.Handle("GET /static/", s.staticHandler())
	mux.HandleFunc("GET "+webunits.Path, serveUnits)
	if s.trust != nil {
		mux.HandleFunc("GET /api/trust/{pubkey}", s.serveTrust)
	}
	mux.HandleFunc("GET /admin", s.page("admin.html"))
	mux.HandleFunc("GET /admin/{$}", s.page("admin.html"))
	mux.HandleFunc("POST /admin/api/login", s.serveLogin)
	mux.HandleFunc("POST /admin/api/logout", s.serveLogout)
	mux.HandleFunc("GET /admin/api/stats", s.requireOperator(s.serveStats))
}

// securityHeaders forbids loading anything from other hosts and framing.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

func (s *Server) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		b, err := fs.ReadFile(s.static, name)
		if err != nil {
			s.log.Error("embedded page missing", "page", name, "err", err)
			http.Error(w, "page missing", http.StatusInternalServerError)
			return
		}
		securityHeaders(w.Header())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(b)
	}
}

func (s *Server) servePublicProvider(w http.ResponseWriter, req *http.Request) {
	if !nostr.IsValid32ByteHex(req.PathValue("pubkey")) {
		securityHeaders(w.Header())
		http.Error(w, "not a provider: want /provider/<64-character lowercase hex pubkey>", http.StatusNotFound)
		return
	}
	s.page("provider.html")(w, req)
}

// serveTrust answers {"pubkey": ..., "rank": 0-100, "known": bool}.
func (s *Server) serveTrust(w http.ResponseWriter, req *http.Request) {
	pk := req.PathValue("pubkey")
	if !nostr.IsValid32ByteHex(pk) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "want /api/trust/<64-character lowercase hex pubkey>"})
		return
	}
	rank, known := s.trust(pk)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, map[string]any{"pubkey": pk, "rank": rank, "known": known})
}

// serveUnits serves units.js, the formatter the pages share with agentd's
// dashboard.
func serveUnits(w http.ResponseWriter, _ *http.Request) {
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	_, _ = w.Write(webunits.JS)
}

func (s *Server) staticHandler() http.Handler {
	files := http.StripPrefix("/static/", http.FileServerFS(s.static))
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		name := strings.TrimPrefix(req.URL.Path, "/static/")
		if strings.HasSuffix(name, ".html") || name == "" || strings.HasSuffix(name, "/") {
			http.NotFound(w, req) // pages have their own routes; no listings
			return
		}
		securityHeaders(w.Header())
		files.ServeHTTP(w, req)
	})
}

// ParsePubkey reads an operator key given as 64 hex characters or as an
// npub (NIP-19), and returns it as lowercase hex.
func ParsePubkey(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "npub1") {
		prefix, v, err := nip19.Decode(s)
		if err != nil || prefix != "npub" {
			return "", fmt.Errorf("%w: operator key is not a valid npub", ErrInvalidConfig)
		}
		hexKey, ok := v.(string)
		if !ok || !nostr.IsValid32ByteHex(hexKey) {
			return "", fmt.Errorf("%w: operator key is not a valid npub", ErrInvalidConfig)
		}
		return hexKey, nil
	}
	if l := strings.ToLower(s); nostr.IsValid32ByteHex(l) {
		return l, nil
	}
	// The value is not repeated: it may be a secret key pasted by mistake.
	return "", fmt.Errorf("%w: operator key: want an npub or 64 hex characters", ErrInvalidConfig)
}
