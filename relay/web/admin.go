package web

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay"
)

// Store is what the pages read from the relay's event store;
// *sqlitestore.Store is one.
type Store interface {
	QueryEvents(ctx context.Context, filter nostr.Filter) (chan *nostr.Event, error)
	CountByKind(ctx context.Context) (map[int]int64, error)
}

// Stats are the relay's live counters.
type Stats interface {
	// Connections is the number of open websocket connections.
	Connections() int
	// RejectedByReason counts the events refused since the relay started,
	// by reason.
	RejectedByReason() map[string]float64
	// Peers is the state of each relay it keeps in step with (--peers).
	Peers() []relay.PeerStatus
}

// Earnings is the fee collector's ledger; *fees.Collector is one.
type Earnings interface {
	Earnings(ctx context.Context, from, to time.Time) ([]fees.DayEarnings, error)
}

// Wallet is the relay's wallet; *cashu.Wallet is one.
type Wallet interface {
	Balance(ctx context.Context) (uint64, error)
}

// RelayInfo names the relay on the dashboard.
type RelayInfo struct {
	Name   string `json:"name"`
	Pubkey string `json:"pubkey"`
}

// maxScan bounds the events read for network health.
const maxScan = 10000

// chartDays is how many days the earnings chart shows.
const chartDays = 30

// Dashboard is the JSON of GET /admin/api/stats.
type Dashboard struct {
	Relay       RelayInfo          `json:"relay"`
	Operator    string             `json:"operator"`
	Now         int64              `json:"now"`
	Earnings    EarningsView       `json:"earnings"`
	Wallet      WalletView         `json:"wallet"`
	EventsBy    []KindCount        `json:"events_by_kind"`
	EventsTotal int64              `json:"events_total"`
	Connections *int               `json:"connections"` // null: not available
	Rejected    []ReasonCount      `json:"rejected"`
	Peers       []relay.PeerStatus `json:"peers"`
	Network     NetworkHealth      `json:"network"`
	Errors      []string           `json:"errors,omitempty"`
	Available   map[string]bool    `json:"available"`
}

// EarningsView is the fee income: per day for the chart, this month and the
// last one.
type EarningsView struct {
	Days           []fees.DayEarnings `json:"days"`  // chartDays days, oldest first, zero days filled in
	Month          string             `json:"month"` // YYYY-MM, UTC
	MonthSats      uint64             `json:"month_sats"`
	MonthEvents    int                `json:"month_events"`
	LastMonth      string             `json:"last_month"`
	LastMonthSats  uint64             `json:"last_month_sats"`
	Last30DaysSats uint64             `json:"last_30_days_sats"`
}

// WalletView is the relay wallet's balance.
type WalletView struct {
	BalanceSats uint64 `json:"balance_sats"`
}

// KindCount is the number of stored events of one kind.
type KindCount struct {
	Kind  int    `json:"kind"`
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// ReasonCount is the number of events refused for one reason.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// NetworkHealth says how many providers the relay knows and how many are
// beaconing now.
type NetworkHealth struct {
	ProvidersSeen  int  `json:"providers_seen"`     // keys with an open offer or a presence beacon
	ProvidersOffer int  `json:"providers_offering"` // keys with an open offer
	OffersOpen     int  `json:"offers_open"`
	BeaconsFresh   int  `json:"beacons_fresh"`       // presence beacons not yet expired
	BeaconsStale   int  `json:"beacons_stale"`       // beacons stored but expired
	Truncated      bool `json:"truncated,omitempty"` // more than maxScan events: counts are lower bounds
}

var kindNames = map[int]string{
	0: "profile", 1: "note", 3: "follows", 5: "deletion", 7: "reaction",
	nips.KindBid: "bid", nips.KindMatch: "match", nips.KindReceipt: "receipt", nips.KindAttestation: "attestation",
	nips.KindPresence: "presence", nips.KindOffer: "offer", nips.KindGiftWrap: "gift wrap (private bid)",
	13194: "wallet info (NWC)", 23194: "wallet request (NWC)", 23195: "wallet response (NWC)",
	nostr.KindHTTPAuth: "HTTP auth",
}

func (s *Server) serveStats(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	d, err := s.dashboard(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// dashboard gathers the dashboard. A source that fails is reported in
// Errors and the rest is still shown; only a failing event store fails it.
func (s *Server) dashboard(ctx context.Context) (*Dashboard, error) {
	now := time.Now().UTC()
	d := &Dashboard{Relay: s.info(), Operator: s.cfg.Operator, Now: now.Unix(), Available: map[string]bool{
		"earnings": s.earnings != nil, "wallet": s.wallet != nil, "stats": s.stats != nil,
	}, EventsBy: []KindCount{}, Rejected: []ReasonCount{}, Peers: []relay.PeerStatus{}}

	byKind, err := s.store.CountByKind(ctx)
	if err != nil {
		return nil, fmt.Errorf("count events by kind: %w", err)
	}
	for k, n := range byKind {
		d.EventsBy = append(d.EventsBy, KindCount{Kind: k, Name: kindName(k), Count: n})
		d.EventsTotal += n
	}
	slices.SortFunc(d.EventsBy, func(a, b KindCount) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Kind, b.Kind)) })

	if d.Network, err = s.cachedNetwork(ctx, now); err != nil {
		return nil, err
	}
	if s.stats != nil {
		d.Peers = append(d.Peers, s.stats.Peers()...)
		n := s.stats.Connections()
		d.Connections = &n
		for r, c := range s.stats.RejectedByReason() {
			d.Rejected = append(d.Rejected, ReasonCount{Reason: r, Count: int64(c)})
		}
		slices.SortFunc(d.Rejected, func(a, b ReasonCount) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Reason, b.Reason))
		})
	}
	if s.earnings != nil {
		ev, err := s.earningsView(ctx, now)
		if err != nil {
			d.Errors = append(d.Errors, "earnings: "+err.Error())
		}
		d.Earnings = ev
	}
	if s.wallet != nil {
		bal, err := s.wallet.Balance(ctx)
		if err != nil {
			d.Errors = append(d.Errors, "wallet: "+err.Error())
		}
		d.Wallet.BalanceSats = bal
	}
	return d, nil
}

func kindName(k int) string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return "kind " + strconv.Itoa(k)
}

// earningsView reads the fees from the first day of last month to today.
func (s *Server) earningsView(ctx context.Context, now time.Time) (EarningsView, error) {
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	lastMonthStart := monthStart.AddDate(0, -1, 0)
	chartStart := today.AddDate(0, 0, -(chartDays - 1))
	from := chartStart
	if lastMonthStart.Before(from) {
		from = lastMonthStart
	}
	v := EarningsView{Month: monthStart.Format("2006-01"), LastMonth: lastMonthStart.Format("2006-01")}
	days, err := s.earnings.Earnings(ctx, from, today)
	byDay := make(map[string]fees.DayEarnings, len(days))
	for _, e := range days {
		byDay[e.Day] = e
		day, perr := time.Parse(time.DateOnly, e.Day)
		if perr != nil {
			continue
		}
		sats := e.Publication + e.Matching
		switch {
		case !day.Before(monthStart):
			v.MonthSats += sats
			v.MonthEvents += e.Events
		case !day.Before(lastMonthStart):
			v.LastMonthSats += sats
		}
		if !day.Before(chartStart) {
			v.Last30DaysSats += sats
		}
	}
	for i := range chartDays {
		day := chartStart.AddDate(0, 0, i).Format(time.DateOnly)
		e, ok := byDay[day]
		if !ok {
			e = fees.DayEarnings{Day: day}
		}
		v.Days = append(v.Days, e)
	}
	if err != nil {
		return v, fmt.Errorf("read fee ledger: %w", err)
	}
	return v, nil
}

// networkTTL is how long a network-health scan is reused: the scan reads
// every offer and beacon (about 170 ms for 5,000 providers, see
// BenchmarkDashboard), and several dashboard tabs refresh every 15 s.
const networkTTL = 5 * time.Second

func (s *Server) cachedNetwork(ctx context.Context, now time.Time) (NetworkHealth, error) {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	if !s.netAt.IsZero() && now.Sub(s.netAt) < networkTTL && now.After(s.netAt) {
		return s.net, nil
	}
	h, err := s.network(ctx, now)
	if err != nil {
		return h, err
	}
	s.net, s.netAt = h, now
	return h, nil
}

// network counts providers and presence beacons in the store.
func (s *Server) network(ctx context.Context, now time.Time) (NetworkHealth, error) {
	var h NetworkHealth
	seen := make(map[string]struct{})
	offering := make(map[string]struct{})
	ts := now.Unix()
	offers, err := s.query(ctx, nostr.Filter{Kinds: []int{nips.KindOffer}, Limit: maxScan})
	if err != nil {
		return h, err
	}
	for _, evt := range offers {
		if exp := expiration(evt); exp != 0 && exp <= ts {
			continue
		}
		h.OffersOpen++
		offering[evt.PubKey] = struct{}{}
		seen[evt.PubKey] = struct{}{}
	}
	beacons, err := s.query(ctx, nostr.Filter{Kinds: []int{nips.KindPresence}, Limit: maxScan})
	if err != nil {
		return h, err
	}
	for _, evt := range beacons {
		seen[evt.PubKey] = struct{}{}
		if exp := expiration(evt); exp == 0 || exp > ts {
			h.BeaconsFresh++
		} else {
			h.BeaconsStale++
		}
	}
	h.ProvidersSeen, h.ProvidersOffer = len(seen), len(offering)
	h.Truncated = len(offers) >= maxScan || len(beacons) >= maxScan
	return h, nil
}

func (s *Server) query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	ch, err := s.store.QueryEvents(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("query kind %v: %w", f.Kinds, err)
	}
	var out []*nostr.Event
	for evt := range ch {
		out = append(out, evt)
	}
	return out, ctx.Err()
}

func expiration(evt *nostr.Event) int64 {
	v := tagValue(evt, "expiration")
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
