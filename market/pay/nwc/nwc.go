// Package nwc implements NIP-47 Nostr Wallet Connect: a client (pay_invoice,
// make_invoice, lookup_invoice, get_balance, get_info over NIP-44 v2) and a
// wallet service backed by a sovmesh Cashu wallet, so an agent's wallet works
// from any NWC app.
//
// Connection URIs (nostr+walletconnect://...) carry a secret key: they are
// never logged or put in errors; URI.Redacted prints one safely.
package nwc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/nbd-wtf/go-nostr"
)

// Event kinds of NIP-47.
const (
	KindInfo         = 13194
	KindRequest      = 23194
	KindResponse     = 23195
	KindNotification = 23197
)

// Encryption is the only scheme this package speaks: the client tags every
// request with it and the service answers any other scheme with
// UNSUPPORTED_ENCRYPTION.
const Encryption = "nip44_v2"

// legacyEncryption is the scheme NIP-47 implies for a request with no
// encryption tag (NIP-04, deprecated). The service does not accept it.
const legacyEncryption = "nip04"

// Methods the service implements.
var Methods = []string{"pay_invoice", "make_invoice", "lookup_invoice", "get_balance", "get_info"}

// Error codes of NIP-47, each with a sentinel for errors.Is.
var (
	ErrRateLimited         = errors.New("nwc: RATE_LIMITED")
	ErrNotImplemented      = errors.New("nwc: NOT_IMPLEMENTED")
	ErrInsufficientBalance = errors.New("nwc: INSUFFICIENT_BALANCE")
	ErrQuotaExceeded       = errors.New("nwc: QUOTA_EXCEEDED")
	ErrRestricted          = errors.New("nwc: RESTRICTED")
	ErrUnauthorized        = errors.New("nwc: UNAUTHORIZED")
	ErrInternal            = errors.New("nwc: INTERNAL")
	ErrOther               = errors.New("nwc: OTHER")
	ErrPaymentFailed       = errors.New("nwc: PAYMENT_FAILED")
	ErrNotFound            = errors.New("nwc: NOT_FOUND")
	// ErrUnsupportedEncryption: the wallet service does not speak the
	// request's encryption scheme.
	ErrUnsupportedEncryption = errors.New("nwc: UNSUPPORTED_ENCRYPTION")
	// ErrTimeout: no response before the deadline (the request may still run).
	ErrTimeout = errors.New("nwc: no response before the timeout")
	// ErrBadURI: the connection URI is malformed.
	ErrBadURI = errors.New("nwc: malformed connection URI")
	// ErrUnknownConnection: Revoke of a client the service never authorized.
	ErrUnknownConnection = errors.New("nwc: no such connection")
)

var codes = map[string]error{
	"RATE_LIMITED": ErrRateLimited, "NOT_IMPLEMENTED": ErrNotImplemented,
	"INSUFFICIENT_BALANCE": ErrInsufficientBalance, "QUOTA_EXCEEDED": ErrQuotaExceeded,
	"RESTRICTED": ErrRestricted, "UNAUTHORIZED": ErrUnauthorized, "INTERNAL": ErrInternal,
	"OTHER": ErrOther, "PAYMENT_FAILED": ErrPaymentFailed, "NOT_FOUND": ErrNotFound,
	"UNSUPPORTED_ENCRYPTION": ErrUnsupportedEncryption,
}

// Error is an error response of a wallet service.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("nwc: %s: %s", e.Code, e.Message) }

// Is matches the sentinel of the error's code (ErrOther for unknown codes).
func (e *Error) Is(target error) bool {
	s, ok := codes[e.Code]
	if !ok {
		s = ErrOther
	}
	return s == target
}

type request struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

type response struct {
	ResultType string          `json:"result_type"`
	Error      *Error          `json:"error,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
}

// Transaction is an invoice or payment as NIP-47 reports it.
type Transaction struct {
	Type            string `json:"type"` // incoming or outgoing
	State           string `json:"state,omitempty"`
	Invoice         string `json:"invoice,omitempty"`
	Description     string `json:"description,omitempty"`
	DescriptionHash string `json:"description_hash,omitempty"`
	Preimage        string `json:"preimage,omitempty"`
	PaymentHash     string `json:"payment_hash"`
	Amount          uint64 `json:"amount"`
	FeesPaid        uint64 `json:"fees_paid"`
	CreatedAt       int64  `json:"created_at"`
	ExpiresAt       int64  `json:"expires_at,omitempty"`
	SettledAt       int64  `json:"settled_at,omitempty"`
}

// Info is the get_info result.
type Info struct {
	Alias   string   `json:"alias"`
	Network string   `json:"network"`
	Pubkey  string   `json:"pubkey"`
	Methods []string `json:"methods"`
}

// URI is a parsed connection URI.
type URI struct {
	WalletPubkey string
	Relays       []string
	Secret       string // the client's secret key, hex
	Lud16        string
}

// ParseURI parses nostr+walletconnect://<wallet pubkey>?relay=...&secret=...
func ParseURI(s string) (URI, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "nostr+walletconnect" && u.Scheme != "nostrwalletconnect") {
		return URI{}, ErrBadURI
	}
	host := u.Host
	if host == "" {
		host = u.Opaque
	}
	out := URI{WalletPubkey: strings.ToLower(host), Relays: u.Query()["relay"], Secret: u.Query().Get("secret"), Lud16: u.Query().Get("lud16")}
	if !nostr.IsValid32ByteHex(out.WalletPubkey) {
		return URI{}, fmt.Errorf("%w: wallet pubkey", ErrBadURI)
	}
	if !nostr.IsValid32ByteHex(out.Secret) {
		return URI{}, fmt.Errorf("%w: secret", ErrBadURI)
	}
	if len(out.Relays) == 0 {
		return URI{}, fmt.Errorf("%w: no relay", ErrBadURI)
	}
	for _, r := range out.Relays {
		if ru, err := url.Parse(r); err != nil || (ru.Scheme != "ws" && ru.Scheme != "wss") {
			return URI{}, fmt.Errorf("%w: relay URL", ErrBadURI)
		}
	}
	return out, nil
}

// String returns the full URI, secret included: hand it only to the client.
func (u URI) String() string {
	q := url.Values{}
	for _, r := range u.Relays {
		q.Add("relay", r)
	}
	q.Set("secret", u.Secret)
	if u.Lud16 != "" {
		q.Set("lud16", u.Lud16)
	}
	return "nostr+walletconnect://" + u.WalletPubkey + "?" + q.Encode()
}

// Redacted returns the URI with the secret elided, safe for logs.
func (u URI) Redacted() string {
	return "nostr+walletconnect://" + u.WalletPubkey + "?relay=" + strings.Join(u.Relays, ",") + "&secret=REDACTED"
}
