// Package nut24 is Cashu over HTTP 402 Payment Required (NUT-24): a server
// middleware that answers 402 with an X-Cashu payment request (NUT-18
// creqA) and serves the request once the retry carries a cashuB token worth
// the price. Blossom servers (BUD-07) use the same headers. The payer's
// side, for tests, is nut24test.Client.
//
// No sat is lost: the server serves once more a retry
// that carries a token it redeemed, within Server.ReplayWindow, for the
// same method and path, when the first attempt was not served (a handler
// error, a lost response, a restart), so such a request is not paid twice.
// A token serves one successful request.
package nut24

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/creq"
)

// Header carries the payment request (402) and the token (retry).
const Header = "X-Cashu"

// Server protects a handler with a price.
type Server struct {
	// Wallet receives the tokens; its allow-list is the request's mints.
	Wallet *cashu.Wallet
	// Price returns the sats a request costs (0: free).
	Price func(r *http.Request) uint64
	// Lock asks for tokens P2PK-locked to the wallet's key.
	Lock bool
	// Bech32 sends the request in the NUT-26 form (creqb1...) instead of
	// NUT-18's creqA.
	Bech32 bool
	// ReplayWindow: a token this server already redeemed, for at least the
	// price, within this window, is accepted again. Default 10 minutes.
	ReplayWindow time.Duration
	// Receive, if set, gives the wallet receive of a paid request its
	// Counterparty, AllowOffline and OnJournal (e.g. the ledger line that
	// records the earning in the receive's transaction); Amount and
	// RequireLock are the server's.
	Receive func(r *http.Request) cashu.ReceiveOptions
	// Logger; default discard. Tokens are never logged.
	Logger *slog.Logger

	mu   sync.Mutex
	uses map[int64]*use // receive op -> what it paid for
}

// use is what one redeemed token paid for.
type use struct {
	route  string
	served bool // a request it paid for was answered below 400
	busy   bool // a request it pays for is being served now
	at     time.Time
}

// Wrap returns next behind the payment wall.
func (s *Server) Wrap(next http.Handler) http.Handler {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	window := s.ReplayWindow
	if window <= 0 {
		window = 10 * time.Minute
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		price := s.Price(r)
		if price == 0 {
			next.ServeHTTP(rw, r)
			return
		}
		tok := strings.TrimSpace(r.Header.Get(Header))
		if tok == "" {
			s.paymentRequired(rw, price)
			return
		}
		route := r.Method + " " + r.URL.Path
		var opts cashu.ReceiveOptions
		if s.Receive != nil {
			opts = s.Receive(r)
		}
		opID, status, msg := s.redeem(r.Context(), tok, price, window, route, opts)
		if status != 0 {
			log.Info("nut24 payment refused", "path", r.URL.Path, "price", price, "status", status, "reason", msg)
			// X-Reason: Blossom (BUD-01, BUD-07) shows it to the user.
			rw.Header().Set("X-Reason", msg)
			http.Error(rw, msg, status)
			return
		}
		sw := &statusWriter{ResponseWriter: rw, status: http.StatusOK}
		defer func() {
			s.mu.Lock()
			if u := s.uses[opID]; u != nil {
				u.busy = false
				u.served = u.served || sw.status < 400
			}
			s.mu.Unlock()
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter records the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// claim records that op pays for a request to route, being served now; it
// refuses an op that paid for a request served, being served, or to
// another route.
func (s *Server) claim(opID int64, route string, window time.Duration, replay bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.uses == nil {
		s.uses = map[int64]*use{}
	}
	for id, u := range s.uses {
		if time.Since(u.at) > window {
			delete(s.uses, id)
		}
	}
	u := s.uses[opID]
	if u == nil {
		s.uses[opID] = &use{route: route, busy: true, at: time.Now()}
		return true
	}
	if !replay || u.served || u.busy || u.route != route {
		return false
	}
	u.busy = true
	return true
}

func (s *Server) paymentRequired(rw http.ResponseWriter, price uint64) {
	req := creq.Request{Amount: price, Unit: "sat", Mints: s.Wallet.Mints()}
	if s.Lock {
		req.NUT10 = &creq.NUT10Option{Kind: creq.KindP2PK, Data: "02" + s.Wallet.PublicKey()}
	}
	encode := req.Encode
	if s.Bech32 {
		encode = req.EncodeB
	}
	enc, err := encode()
	if err != nil {
		http.Error(rw, "cannot make a payment request", http.StatusInternalServerError)
		return
	}
	rw.Header().Set(Header, enc)
	rw.Header().Set("X-Reason", fmt.Sprintf("payment required: %d sat", price))
	http.Error(rw, "payment required", http.StatusPaymentRequired)
}

// redeem takes the token for route; status 0 means paid, by receive op.
func (s *Server) redeem(ctx context.Context, tok string, price uint64, window time.Duration, route string, opts cashu.ReceiveOptions) (int64, int, string) {
	info, err := cashu.Inspect(tok)
	if err != nil {
		return 0, http.StatusBadRequest, "malformed token"
	}
	mint, err := cashu.NormalizeMintURL(info.Mint)
	if err != nil || !slices.Contains(s.Wallet.Mints(), mint) {
		return 0, http.StatusBadRequest, "token from a mint not in the request"
	}
	if info.Unit != "sat" {
		return 0, http.StatusBadRequest, "wrong unit"
	}
	if info.Amount < price {
		return 0, http.StatusBadRequest, fmt.Sprintf("token is %d sat, the price is %d", info.Amount, price)
	}
	opts.Amount, opts.RequireLock = price, s.Lock
	rec, err := s.Wallet.Receive(ctx, tok, opts)
	switch {
	case err == nil:
		s.claim(rec.OpID, route, window, false)
		return rec.OpID, 0, ""
	case errors.Is(err, cashu.ErrReplayed):
		// Ours already: a retry of a request that was not served?
		rc, ok, rerr := s.Wallet.ReceivedBefore(ctx, tok)
		if rerr == nil && ok && rc.State == "done" && rc.Amount >= price && time.Since(rc.At) <= window &&
			s.claim(rc.OpID, route, window, true) {
			return rc.OpID, 0, ""
		}
		return 0, http.StatusBadRequest, "token already used"
	case errors.Is(err, cashu.ErrMintUnreachable), errors.Is(err, cashu.ErrPending), errors.Is(err, cashu.ErrOfflineLimit):
		return 0, http.StatusServiceUnavailable, "mint unreachable, retry later"
	case errors.Is(err, cashu.ErrTokenSpent):
		return 0, http.StatusBadRequest, "token already spent"
	case errors.Is(err, cashu.ErrNotLocked), errors.Is(err, cashu.ErrLockedToOther):
		return 0, http.StatusBadRequest, "token not locked as requested"
	}
	return 0, http.StatusBadRequest, "payment refused"
}
