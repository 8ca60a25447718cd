// Package dashboard is the provider's own web page, served by
// "agentd provide" on a local address (127.0.0.1 by default): earnings
// this month and last, per resource, as a chart; network health (providers
// seen and online, this node's sessions, storage used, bandwidth carried,
// uptime); the current prices and why they last moved. It is read-only and
// phone-first; its HTML, CSS and JavaScript are embedded and load nothing
// from other hosts (a Content-Security-Policy forbids it).
//
//	d := dashboard.New(p, n.DB, n.Log)
//	stop, url, err := d.Start(ctx, "127.0.0.1:8090")
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/internal/httpserve"
	"github.com/sovmesh/sovmesh/internal/webunits"
	"github.com/sovmesh/sovmesh/nips"
)

//go:embed static
var staticFiles embed.FS

// Provider is the running provider the page shows.
type Provider interface {
	Status() provider.Status
	Network(ctx context.Context) (provider.Network, error)
}

// Ledger is agentd's state database: earnings and sessions.
type Ledger interface {
	TotalsBetween(ctx context.Context, from, to time.Time) (state.Totals, error)
	Activity(ctx context.Context, role string, since time.Time) (map[nips.Resource]state.Activity, error)
}

// Server serves the dashboard.
type Server struct {
	p      Provider
	l      Ledger
	log    *slog.Logger
	static fs.FS
}

// New returns the dashboard of provider p with ledger l.
func New(p Provider, l Ledger, log *slog.Logger) *Server {
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err) // the embedded directory exists
	}
	if log == nil {
		log = slog.Default()
	}
	return &Server{p: p, l: l, log: log, static: static}
}

// Handler serves:
//
//	GET /                 the page
//	GET /static/...       its CSS and JavaScript (units.js from internal/webunits)
//	GET /api/dashboard    its data (JSON)
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { s.file(w, "index.html", "text/html; charset=utf-8") })
	mux.HandleFunc("GET /static/dash.js", func(w http.ResponseWriter, _ *http.Request) { s.file(w, "dash.js", "text/javascript; charset=utf-8") })
	mux.HandleFunc("GET /static/dash.css", func(w http.ResponseWriter, _ *http.Request) { s.file(w, "dash.css", "text/css; charset=utf-8") })
	mux.HandleFunc("GET "+webunits.Path, func(w http.ResponseWriter, _ *http.Request) {
		securityHeaders(w.Header())
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(webunits.JS)
	})
	mux.HandleFunc("GET /api/dashboard", s.serveData)
	return mux
}

// Start listens on addr and serves until ctx ends or stop is called; stop
// waits for the server to end. url is the page's address.
func (s *Server) Start(ctx context.Context, addr string) (stop func(), url string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("dashboard: %w", err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := httpserve.Serve(ctx, ln, srv, 5*time.Second); err != nil {
			s.log.Warn("dashboard stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }, "http://" + ln.Addr().String() + "/", nil
}

// securityHeaders forbids loading anything from other hosts and framing.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

func (s *Server) file(w http.ResponseWriter, name, contentType string) {
	b, err := fs.ReadFile(s.static, name)
	if err != nil {
		s.log.Error("embedded file missing", "file", name, "err", err)
		http.Error(w, "file missing", http.StatusInternalServerError)
		return
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write(b)
}

// Month is one calendar month's earnings (UTC).
type Month struct {
	Label string `json:"label"` // 2026-12
	// Sats is net earnings (earned - change - lost); ByResource splits it.
	Sats        uint64                   `json:"sats"`
	ByResource  map[nips.Resource]uint64 `json:"by_resource"`
	Unconfirmed uint64                   `json:"unconfirmed"` // accepted offline, not swapped yet
}

// Price is one resource's prices now and why they are what they are.
type Price struct {
	Resource nips.Resource `json:"resource"`
	Prices   nips.Prices   `json:"prices"`
	Base     uint64        `json:"base"`
	Min      uint64        `json:"min"`
	Max      uint64        `json:"max"`
	Load     float64       `json:"load"`
	// Why is the last pricing step's reason ("" before the first);
	// Moved the last change (nil: never moved).
	Why     string `json:"why"`
	CheckAt int64  `json:"checked_at,omitempty"`
	Moved   *Move  `json:"moved,omitempty"`
}

// Move is a price change.
type Move struct {
	At   int64  `json:"at"`
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
	Why  string `json:"why"`
}

// Data is what /api/dashboard answers.
type Data struct {
	Now       int64   `json:"now"`
	ThisMonth Month   `json:"this_month"`
	LastMonth Month   `json:"last_month"`
	Prices    []Price `json:"prices"`
	// Network: nil when the relays could not be asked.
	ProvidersSeen   *int   `json:"providers_seen"`
	ProvidersOnline *int   `json:"providers_online"`
	Sessions        int    `json:"sessions"`      // this month, as provider
	OpenSessions    int    `json:"open_sessions"` // of them, still open
	StorageUsed     int64  `json:"storage_used"`  // bytes
	StorageQuota    int64  `json:"storage_quota"` // bytes (0: no storage sold)
	BandwidthBytes  uint64 `json:"bandwidth_bytes"`
	UptimeSeconds   int64  `json:"uptime"`
	// Errors says what could not be read.
	Errors []string `json:"errors"`
}

// Collect gathers the dashboard's data at now.
func (s *Server) Collect(ctx context.Context) Data {
	now := time.Now().UTC()
	this := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	last := this.AddDate(0, -1, 0)
	st := s.p.Status()
	d := Data{Now: now.Unix(), Errors: []string{}, StorageUsed: st.StorageUsed, StorageQuota: st.StorageQuota,
		UptimeSeconds: int64(now.Sub(st.Started).Seconds())}
	fail := func(what string, err error) {
		s.log.Warn("dashboard: "+what+" not read", "err", err)
		d.Errors = append(d.Errors, what+": "+err.Error())
	}
	month := func(from, to time.Time) Month {
		m := Month{Label: from.Format("2006-01"), ByResource: map[nips.Resource]uint64{}}
		t, err := s.l.TotalsBetween(ctx, from, to)
		if err != nil {
			fail("earnings", err)
			return m
		}
		m.Sats, m.Unconfirmed = t.Net(), t.Unconfirmed
		for r, v := range t.ByResource {
			if v > 0 {
				m.ByResource[r] = v
			}
		}
		return m
	}
	d.LastMonth, d.ThisMonth = month(last, this), month(this, this.AddDate(0, 1, 0))
	if act, err := s.l.Activity(ctx, state.RoleProvider, this); err != nil {
		fail("sessions", err)
	} else {
		for r, a := range act {
			d.Sessions += a.Sessions
			d.OpenSessions += a.Open
			if r == nips.Bandwidth {
				d.BandwidthBytes = a.Delivered
			}
		}
	}
	nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if n, err := s.p.Network(nctx); err != nil {
		fail("network", err)
	} else {
		d.ProvidersSeen, d.ProvidersOnline = &n.Seen, &n.Online
	}
	for _, ps := range st.Prices {
		pr := Price{Resource: ps.Resource, Prices: ps.Prices, Base: ps.Pricing.Base, Min: ps.Pricing.Min, Max: ps.Pricing.Max, Load: ps.Load, Why: ps.Last.Why}
		if !ps.Last.At.IsZero() {
			pr.CheckAt = ps.Last.At.Unix()
		}
		if c := ps.Changed; !c.At.IsZero() {
			pr.Moved = &Move{At: c.At.Unix(), From: c.From, To: c.To, Why: c.Why}
		}
		d.Prices = append(d.Prices, pr)
	}
	return d
}

func (s *Server) serveData(w http.ResponseWriter, req *http.Request) {
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.Collect(req.Context()))
}
