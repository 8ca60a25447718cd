package nwc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip04"
	"github.com/nbd-wtf/go-nostr/nip44"

	"github.com/sovmesh/sovmesh/market/pay/bolt11"
	"github.com/sovmesh/sovmesh/market/pay/budget"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
)

// ServiceConfig configures a wallet service.
type ServiceConfig struct {
	// SecretKey of the service (hex); its pubkey is the wallet pubkey in URIs.
	SecretKey string
	// Relay the service listens on (ws:// or wss://).
	Relay string
	// Network of the invoices the backing mint issues and pays ("signet"
	// for the dev mint). Default "bitcoin".
	Network string
	// Alias returned by get_info.
	Alias string
	// Logger; default discard. Secrets and URIs are never logged.
	Logger *slog.Logger
}

// Service answers NIP-47 requests with a Cashu wallet: pay_invoice melts,
// make_invoice is a mint quote, lookup_invoice claims a paid quote.
//
// Its state lives in the wallet's journal (SQLite): the authorized client
// keys, the invoices it made (so lookup_invoice answers after a restart),
// and the ids of the requests it took, so a request delivered again is
// never executed twice (its kept response is published again).
type Service struct {
	cfg    ServiceConfig
	wallet *cashu.Wallet
	db     *sql.DB
	pub    string
	log    *slog.Logger
	takes  atomic.Uint64
}

type invoiceInfo struct {
	opID        int64
	invoice     string
	description string
	amountMsat  uint64
	createdAt   int64
	expiresAt   int64
}

// NewService returns a service for wallet.
func NewService(wallet *cashu.Wallet, cfg ServiceConfig) (*Service, error) {
	pub, err := nostr.GetPublicKey(cfg.SecretKey)
	if err != nil {
		return nil, errors.New("nwc: service secret key is invalid")
	}
	if cfg.Network == "" {
		cfg.Network = "bitcoin"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, wallet: wallet, db: wallet.Journal().DB(), pub: pub, log: cfg.Logger}, nil
}

// Pubkey returns the service's (wallet) pubkey.
func (s *Service) Pubkey() string { return s.pub }

// NewConnection creates a client key authorized on this service, records
// it, and returns its connection URI (which holds the client's secret: show
// it once, never log it).
func (s *Service) NewConnection(ctx context.Context) (URI, error) {
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO nwc_connections (service, client, created_at) VALUES (?, ?, ?)`,
		s.pub, pk, time.Now().Unix()); err != nil {
		return URI{}, fmt.Errorf("nwc: record connection: %w", err)
	}
	s.log.Info("nwc connection created", "client", pk)
	return URI{WalletPubkey: s.pub, Relays: []string{s.cfg.Relay}, Secret: sk}, nil
}

// Revoke removes a client's authorization: its next request, also to a
// service already running on the same wallet, is answered UNAUTHORIZED.
// A client this service never authorized is ErrUnknownConnection.
func (s *Service) Revoke(ctx context.Context, clientPubkey string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM nwc_connections WHERE service = ? AND client = ?`, s.pub, clientPubkey)
	if err != nil {
		return fmt.Errorf("nwc: revoke: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("%w: %s", ErrUnknownConnection, clientPubkey)
	}
	s.log.Info("nwc connection revoked", "client", clientPubkey)
	return nil
}

// Connection is one authorized client of the service.
type Connection struct {
	Client  string // the client's pubkey, hex
	Created time.Time
}

// Connections returns the authorized clients, oldest first.
func (s *Service) Connections(ctx context.Context) ([]Connection, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT client, created_at FROM nwc_connections WHERE service = ? ORDER BY created_at, client`, s.pub)
	if err != nil {
		return nil, fmt.Errorf("nwc: connections: %w", err)
	}
	defer rows.Close()
	var out []Connection
	for rows.Next() {
		var c Connection
		var at int64
		if err := rows.Scan(&c.Client, &at); err != nil {
			return nil, fmt.Errorf("nwc: connections: %w", err)
		}
		c.Created = time.Unix(at, 0)
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Service) authorized(ctx context.Context, client string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM nwc_connections WHERE service = ? AND client = ?`, s.pub, client).Scan(&n)
	return n > 0, err
}

// take records that the service takes request id; taken reports it was
// taken before, with the response kept then ("" if none was made).
func (s *Service) take(ctx context.Context, id string) (taken bool, response string, err error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO nwc_requests (event_id, service, created_at) VALUES (?, ?, ?) ON CONFLICT(event_id) DO NOTHING`,
		id, s.pub, time.Now().Unix())
	if err != nil {
		return false, "", fmt.Errorf("nwc: record request: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		if s.takes.Add(1)%256 == 0 {
			// Requests expire within minutes: keep a week of ids.
			_, _ = s.db.ExecContext(ctx, `DELETE FROM nwc_requests WHERE service = ? AND created_at < ?`,
				s.pub, time.Now().Add(-7*24*time.Hour).Unix())
		}
		return false, "", nil
	}
	err = s.db.QueryRowContext(ctx, `SELECT response FROM nwc_requests WHERE event_id = ?`, id).Scan(&response)
	return true, response, err
}

// Run publishes the info event and serves requests until ctx ends. ready,
// if not nil, is closed once the service is subscribed.
func (s *Service) Run(ctx context.Context, ready chan<- struct{}) error {
	relay, err := nostr.RelayConnect(ctx, s.cfg.Relay)
	if err != nil {
		return fmt.Errorf("nwc: service: connect relay: %w", err)
	}
	defer relay.Close()
	info := nostr.Event{Kind: KindInfo, CreatedAt: nostr.Now(), Content: strings.Join(Methods, " "),
		Tags: nostr.Tags{{"encryption", Encryption}}}
	if err := info.Sign(s.cfg.SecretKey); err != nil {
		return err
	}
	if err := relay.Publish(ctx, info); err != nil {
		return fmt.Errorf("nwc: service: publish info: %w", err)
	}
	since := nostr.Timestamp(time.Now().Add(-time.Minute).Unix())
	sub, err := relay.Subscribe(ctx, nostr.Filters{{Kinds: []int{KindRequest}, Tags: nostr.TagMap{"p": []string{s.pub}}, Since: &since}})
	if err != nil {
		return fmt.Errorf("nwc: service: subscribe: %w", err)
	}
	// Requests are ephemeral (kind 23194): the relay stores none, so one
	// published before it registered this subscription would be lost.
	// Ready only once it has (EOSE).
	select {
	case <-sub.EndOfStoredEvents:
	case <-ctx.Done():
		return nil
	}
	if ready != nil {
		close(ready)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-sub.Events:
			if !ok {
				return fmt.Errorf("nwc: service: subscription closed")
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, ok := s.handle(ctx, ev)
				if !ok {
					return
				}
				if err := relay.Publish(ctx, *resp); err != nil && ctx.Err() == nil {
					s.log.Warn("nwc response not published", "request", ev.ID, "err", err)
				}
			}()
		}
	}
}

// handle answers one request event; ok is false when there is nothing to send.
func (s *Service) handle(ctx context.Context, ev *nostr.Event) (*nostr.Event, bool) {
	if ok, _ := ev.CheckSignature(); !ok {
		return nil, false
	}
	if exp := ev.Tags.Find("expiration"); len(exp) >= 2 {
		if ts, err := strconv.ParseInt(exp[1], 10, 64); err == nil && ts < time.Now().Unix() {
			return nil, false
		}
	}
	ck, err := nip44.GenerateConversationKey(ev.PubKey, s.cfg.SecretKey)
	if err != nil {
		return nil, false
	}
	scheme := requestEncryption(ev.Tags)
	var req request
	var res any
	var rerr *Error
	authorized, err := s.authorized(ctx, ev.PubKey)
	if err != nil {
		rerr = &Error{Code: "INTERNAL", Message: "authorization unavailable"}
	}
	if authorized {
		// Only a connected client's requests are recorded (no table growth
		// from strangers' events).
		taken, kept, err := s.take(ctx, ev.ID)
		if err != nil {
			s.log.Warn("nwc request not recorded", "request", ev.ID, "err", err)
			return nil, false
		}
		if taken {
			var out nostr.Event
			if kept == "" || json.Unmarshal([]byte(kept), &out) != nil {
				return nil, false // taken before and cut short: not run again
			}
			return &out, true
		}
	}
	switch {
	case rerr != nil:
	case !authorized:
		rerr = &Error{Code: "UNAUTHORIZED", Message: "no wallet connected for this key"}
	case scheme != Encryption:
		// Also a request with no encryption tag: NIP-47 reads it as NIP-04,
		// which this service does not accept.
		rerr = &Error{Code: "UNSUPPORTED_ENCRYPTION", Message: "only nip44_v2 encryption"}
	default:
		plain, err := nip44.Decrypt(ev.Content, ck)
		if err != nil || json.Unmarshal([]byte(plain), &req) != nil {
			rerr = &Error{Code: "OTHER", Message: "cannot decrypt or parse request"}
			break
		}
		res, rerr = s.dispatch(ctx, req)
	}
	body, _ := json.Marshal(struct {
		ResultType string `json:"result_type"`
		Error      *Error `json:"error,omitempty"`
		Result     any    `json:"result,omitempty"`
	}{req.Method, rerr, res})
	used, content, err := s.seal(string(body), ck, scheme, ev.PubKey)
	if err != nil {
		return nil, false
	}
	out := &nostr.Event{Kind: KindResponse, CreatedAt: nostr.Now(), Content: content,
		Tags: nostr.Tags{{"p", ev.PubKey}, {"e", ev.ID}, {"encryption", used}}}
	if err := out.Sign(s.cfg.SecretKey); err != nil {
		return nil, false
	}
	if b, err := json.Marshal(out); err == nil {
		if _, err := s.db.ExecContext(ctx, `UPDATE nwc_requests SET response = ? WHERE event_id = ?`, string(b), ev.ID); err != nil {
			s.log.Warn("nwc response not kept", "request", ev.ID, "err", err)
		}
	}
	return out, true
}

// requestEncryption returns the scheme a request's encryption tag names;
// NIP-47 reads a request with no encryption tag as NIP-04. A tag with no
// value names no scheme ("").
func requestEncryption(tags nostr.Tags) string {
	for _, t := range tags {
		if len(t) > 0 && t[0] == "encryption" {
			if len(t) < 2 {
				return ""
			}
			return t[1]
		}
	}
	return legacyEncryption
}

// seal encrypts a response body for the client and returns the scheme used.
//
// NIP-47 encrypts a response "using the scheme requested by the client", and
// a request with no encryption tag requests NIP-04: its answer is NIP-04, the
// only scheme such a client reads. Such a request never gets past the
// encryption check, so only an error with a fixed message (UNAUTHORIZED,
// INTERNAL or UNSUPPORTED_ENCRYPTION) is ever sent that way. For a scheme
// the service cannot use at all (unknown, or a tag with no value) the spec
// leaves the encryption of the UNSUPPORTED_ENCRYPTION answer open; the choice
// here is nip44_v2, the scheme NIP-47 requires and the info event advertises.
// The response's encryption tag names the scheme used.
func (s *Service) seal(body string, ck [32]byte, scheme, client string) (used, content string, err error) {
	if scheme == legacyEncryption {
		key, err := nip04.ComputeSharedSecret(client, s.cfg.SecretKey)
		if err != nil {
			return "", "", err
		}
		content, err = nip04.Encrypt(body, key)
		return legacyEncryption, content, err
	}
	content, err = nip44.Encrypt(body, ck)
	return Encryption, content, err
}

func (s *Service) dispatch(ctx context.Context, req request) (any, *Error) {
	switch req.Method {
	case "get_info":
		return Info{Alias: s.cfg.Alias, Network: s.cfg.Network, Pubkey: s.pub, Methods: Methods}, nil
	case "get_balance":
		b, err := s.wallet.Balance(ctx)
		if err != nil {
			return nil, &Error{Code: "INTERNAL", Message: "balance unavailable"}
		}
		return map[string]uint64{"balance": b * 1000}, nil
	case "pay_invoice":
		var p struct {
			Invoice string `json:"invoice"`
			Amount  uint64 `json:"amount"`
		}
		if json.Unmarshal(req.Params, &p) != nil || p.Invoice == "" {
			return nil, &Error{Code: "OTHER", Message: "invoice required"}
		}
		if p.Amount != 0 {
			return nil, &Error{Code: "NOT_IMPLEMENTED", Message: "amountless invoices are not supported"}
		}
		paid, err := s.wallet.PayInvoice(ctx, p.Invoice, cashu.PayOptions{Network: s.cfg.Network})
		if err != nil {
			return nil, payError(err)
		}
		return map[string]any{"preimage": paid.Preimage, "fees_paid": paid.Fee * 1000}, nil
	case "make_invoice":
		var p struct {
			Amount      uint64 `json:"amount"`
			Description string `json:"description"`
		}
		if json.Unmarshal(req.Params, &p) != nil || p.Amount == 0 {
			return nil, &Error{Code: "OTHER", Message: "amount (msats) required"}
		}
		if p.Amount%1000 != 0 {
			return nil, &Error{Code: "OTHER", Message: "amount must be whole sats"}
		}
		q, err := s.wallet.RequestMint(ctx, "", p.Amount/1000)
		if err != nil {
			return nil, &Error{Code: "INTERNAL", Message: "mint did not issue an invoice"}
		}
		inv, err := bolt11.Decode(q.Invoice, s.cfg.Network)
		if err != nil {
			return nil, &Error{Code: "INTERNAL", Message: "mint issued an invoice for another network"}
		}
		ii := invoiceInfo{opID: q.OpID, invoice: q.Invoice, description: p.Description, amountMsat: p.Amount,
			createdAt: inv.CreatedAt.Unix(), expiresAt: inv.ExpiresAt().Unix()}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO nwc_invoices (payment_hash, service, op_id, invoice, description, amount_msat, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, inv.PaymentHashHex(), s.pub, ii.opID, ii.invoice, ii.description, int64(ii.amountMsat), ii.createdAt, ii.expiresAt); err != nil {
			return nil, &Error{Code: "INTERNAL", Message: "invoice not recorded"}
		}
		return ii.tx(inv.PaymentHashHex(), "pending"), nil
	case "lookup_invoice":
		var p struct {
			PaymentHash string `json:"payment_hash"`
			Invoice     string `json:"invoice"`
		}
		_ = json.Unmarshal(req.Params, &p)
		if p.PaymentHash == "" && p.Invoice != "" {
			if inv, err := bolt11.Decode(p.Invoice, s.cfg.Network); err == nil {
				p.PaymentHash = inv.PaymentHashHex()
			}
		}
		var ii invoiceInfo
		var amount int64
		err := s.db.QueryRowContext(ctx, `SELECT op_id, invoice, description, amount_msat, created_at, expires_at FROM nwc_invoices
			WHERE payment_hash = ? AND service = ?`, p.PaymentHash, s.pub).
			Scan(&ii.opID, &ii.invoice, &ii.description, &amount, &ii.createdAt, &ii.expiresAt)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, &Error{Code: "NOT_FOUND", Message: "invoice not found"}
		}
		if err != nil {
			return nil, &Error{Code: "INTERNAL", Message: "invoice lookup failed"}
		}
		ii.amountMsat = uint64(amount)
		state := "settled"
		if _, err := s.wallet.ClaimMint(ctx, ii.opID); errors.Is(err, cashu.ErrQuoteUnpaid) {
			state = "pending"
		} else if err != nil {
			return nil, &Error{Code: "INTERNAL", Message: "cannot check the invoice"}
		}
		return ii.tx(p.PaymentHash, state), nil
	}
	return nil, &Error{Code: "NOT_IMPLEMENTED", Message: "method not supported"}
}

func (ii invoiceInfo) tx(hash, state string) Transaction {
	t := Transaction{Type: "incoming", State: state, Invoice: ii.invoice, Description: ii.description,
		PaymentHash: hash, Amount: ii.amountMsat, CreatedAt: ii.createdAt, ExpiresAt: ii.expiresAt}
	if state == "settled" {
		t.SettledAt = time.Now().Unix()
	}
	return t
}

// payError maps a wallet error to a NIP-47 error; messages hold no secrets.
func payError(err error) *Error {
	switch {
	case errors.Is(err, cashu.ErrInsufficient):
		return &Error{Code: "INSUFFICIENT_BALANCE", Message: "insufficient balance"}
	case errors.Is(err, cashu.ErrOverBudget), errors.Is(err, budget.ErrNoBudget):
		return &Error{Code: "QUOTA_EXCEEDED", Message: "over the spending authorization"}
	case errors.Is(err, bolt11.ErrExpired), errors.Is(err, bolt11.ErrMalformed), errors.Is(err, bolt11.ErrWrongNetwork),
		errors.Is(err, bolt11.ErrNoAmount), errors.Is(err, bolt11.ErrWrongAmount):
		return &Error{Code: "OTHER", Message: firstLine(err)}
	case errors.Is(err, cashu.ErrPending):
		return &Error{Code: "INTERNAL", Message: "payment pending; check again later"}
	}
	return &Error{Code: "PAYMENT_FAILED", Message: "payment failed"}
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.Index(s, "bolt11: "); i >= 0 {
		s = s[i:]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
