package web

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/selfurl"
)

// NIP-98 refusals. Each names what was wrong so the operator can fix it.
var (
	// ErrNoAuth: no Authorization header and no session.
	ErrNoAuth = errors.New("operator login required")
	// ErrBadAuth: the NIP-98 event is malformed, stale, for another URL or
	// method, badly signed or replayed.
	ErrBadAuth = errors.New("bad NIP-98 authorization")
	// ErrNotOperator: a valid NIP-98 event signed by another key.
	ErrNotOperator = errors.New("not the operator key")
)

// maxAuthHeader bounds the Authorization header we decode (a NIP-98 event
// with a payload hash is well under 1 KiB).
const maxAuthHeader = 8 << 10

// maxAuthBody bounds a request body whose hash is checked.
const maxAuthBody = 64 << 10

const sessionCookie = "sovmesh_admin"

// ParseAuthHeader decodes an `Authorization: Nostr <base64 event>` header
// value into its event, checking only the shape (scheme, size, base64, JSON,
// kind). It does not verify the signature or the tags: Verify does.
func ParseAuthHeader(h string) (*nostr.Event, error) {
	if h == "" {
		return nil, ErrNoAuth
	}
	if len(h) > maxAuthHeader {
		return nil, fmt.Errorf("%w: header longer than %d bytes", ErrBadAuth, maxAuthHeader)
	}
	scheme, b64, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Nostr") {
		return nil, fmt.Errorf("%w: want \"Authorization: Nostr <base64 event>\"", ErrBadAuth)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("%w: event is not base64", ErrBadAuth)
	}
	var evt nostr.Event
	if err := json.Unmarshal(raw, &evt); err != nil {
		return nil, fmt.Errorf("%w: event is not JSON", ErrBadAuth)
	}
	if evt.Kind != nostr.KindHTTPAuth {
		return nil, fmt.Errorf("%w: kind %d, want %d", ErrBadAuth, evt.Kind, nostr.KindHTTPAuth)
	}
	return &evt, nil
}

// authenticator checks NIP-98 events and keeps operator sessions and the ids
// of events already used.
type authenticator struct {
	cfg Config
	now func() time.Time
	// listenURLs names the relay's listen address, for when cfg.BaseURL
	// is empty.
	listenURLs func() []string

	mu       sync.Mutex
	seen     map[string]time.Time // event id -> when it may be forgotten
	sessions map[string]time.Time // token hash -> expiry
}

func newAuthenticator(cfg Config, now func() time.Time, listenURLs func() []string) *authenticator {
	return &authenticator{cfg: cfg, now: now, listenURLs: listenURLs, seen: make(map[string]time.Time), sessions: make(map[string]time.Time)}
}

// verify checks the NIP-98 header of req strictly: kind 27235, created_at
// within the window, u equal to the full request URL, method equal, a valid
// id and signature, the payload hash when there is a body, the operator's
// key, and an event id never used before. It returns the signer.
func (a *authenticator) verify(req *http.Request, body []byte) (string, error) {
	evt, err := ParseAuthHeader(req.Header.Get("Authorization"))
	if err != nil {
		return "", err
	}
	now := a.now()
	created := time.Unix(int64(evt.CreatedAt), 0)
	if d := now.Sub(created); d > a.cfg.AuthWindow || d < -a.cfg.AuthWindow {
		return "", fmt.Errorf("%w: created_at is %s from the relay's clock, allowed %s", ErrBadAuth, d.Round(time.Second), a.cfg.AuthWindow)
	}
	if u := tagValue(evt, "u"); !a.namesRequest(u, req) {
		return "", fmt.Errorf("%w: u tag %q does not name this request, want %q", ErrBadAuth, u, a.wantURL(req))
	}
	if m := tagValue(evt, "method"); m != req.Method {
		return "", fmt.Errorf("%w: method tag %q, want %q", ErrBadAuth, m, req.Method)
	}
	payload := tagValue(evt, "payload")
	if len(body) > 0 && payload == "" {
		return "", fmt.Errorf("%w: a request with a body needs a payload tag (sha256 of the body)", ErrBadAuth)
	}
	if payload != "" {
		sum := sha256.Sum256(body)
		if !strings.EqualFold(payload, hex.EncodeToString(sum[:])) {
			return "", fmt.Errorf("%w: payload tag does not match the body's sha256", ErrBadAuth)
		}
	}
	if !nostr.IsValid32ByteHex(evt.PubKey) || evt.GetID() != evt.ID {
		return "", fmt.Errorf("%w: event id does not match its content", ErrBadAuth)
	}
	if ok, err := evt.CheckSignature(); err != nil || !ok {
		return "", fmt.Errorf("%w: signature does not verify", ErrBadAuth)
	}
	if evt.PubKey != a.cfg.Operator {
		return evt.PubKey, fmt.Errorf("%w: signed by %s", ErrNotOperator, evt.PubKey)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, until := range a.seen {
		if now.After(until) {
			delete(a.seen, id)
		}
	}
	if _, used := a.seen[evt.ID]; used {
		return "", fmt.Errorf("%w: event %s was already used", ErrBadAuth, evt.ID)
	}
	// Remember it until it could no longer pass the created_at check.
	a.seen[evt.ID] = created.Add(a.cfg.AuthWindow + time.Second)
	return evt.PubKey, nil
}

// origins are the http(s) origins a NIP-98 u tag may name: the configured
// base URL, else the relay's listen address. Never the request's Host
// header, which the client chooses: an event signed for another server
// would pass.
func (a *authenticator) origins() []string {
	if a.cfg.BaseURL != "" {
		return []string{a.cfg.BaseURL}
	}
	if a.listenURLs == nil {
		return nil
	}
	return a.listenURLs()
}

// namesRequest reports whether u, a NIP-98 u tag, is the absolute URL of
// req: one of the origins (compared in selfurl's canonical form, so host
// case and default ports do not matter) followed by req's exact path and
// query.
func (a *authenticator) namesRequest(u string, req *http.Request) bool {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" || pu.RequestURI() != req.URL.RequestURI() {
		return false
	}
	return selfurl.Match(a.origins(), pu.Scheme+"://"+pu.Host)
}

// wantURL is the u tag the relay expects for req, for error messages.
func (a *authenticator) wantURL(req *http.Request) string {
	o := a.origins()
	if len(o) == 0 {
		return "(no public URL configured)"
	}
	return strings.TrimSuffix(o[0], "/") + req.URL.RequestURI()
}

func tagValue(evt *nostr.Event, name string) string {
	for _, t := range evt.Tags {
		if len(t) >= 2 && t[0] == name {
			return t[1]
		}
	}
	return ""
}

// newSession stores a fresh session and returns its token (the cookie value;
// only its hash is kept).
func (a *authenticator) newSession() (string, time.Time, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("session token: %w", err)
	}
	token := hex.EncodeToString(b[:])
	now := a.now()
	exp := now.Add(a.cfg.SessionTTL)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pruneSessions(now)
	for len(a.sessions) >= a.cfg.MaxSessions {
		var oldest string
		var oldestExp time.Time
		for k, e := range a.sessions {
			if oldest == "" || e.Before(oldestExp) {
				oldest, oldestExp = k, e
			}
		}
		delete(a.sessions, oldest)
	}
	a.sessions[tokenKey(token)] = exp
	return token, exp, nil
}

func (a *authenticator) pruneSessions(now time.Time) {
	for k, e := range a.sessions {
		if !now.Before(e) {
			delete(a.sessions, k)
		}
	}
}

func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// session reports whether req carries a live operator session.
func (a *authenticator) session(req *http.Request) bool {
	c, err := req.Cookie(sessionCookie)
	if err != nil || len(c.Value) != 64 {
		return false
	}
	key := tokenKey(c.Value)
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, exp := range a.sessions {
		if subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
			return a.now().Before(exp)
		}
	}
	return false
}

func (a *authenticator) endSession(req *http.Request) {
	if c, err := req.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, tokenKey(c.Value))
		a.mu.Unlock()
	}
}

// readBody reads a bounded request body for the payload check.
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, maxAuthBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(b) > maxAuthBody {
		return nil, fmt.Errorf("%w: body over %d bytes", ErrBadAuth, maxAuthBody)
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}

// refuse answers an auth failure: 401 when no or a bad authorization came,
// 403 for another key, with a message a person can act on.
func (s *Server) refuse(w http.ResponseWriter, err error) {
	status := http.StatusUnauthorized
	msg := "Refused: this dashboard is only for the relay operator. Sign in with the operator's key (NIP-98 / NIP-07)."
	switch {
	case errors.Is(err, ErrNotOperator):
		status = http.StatusForbidden
		msg = "Refused: " + err.Error() + "; only the operator key " + s.cfg.Operator + " may open this dashboard."
	case errors.Is(err, ErrBadAuth):
		msg = "Refused: " + err.Error() + "."
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Nostr realm="sovmesh operator"`)
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

// requireOperator lets a request through with a live session cookie or a
// valid NIP-98 header signed by the operator.
func (s *Server) requireOperator(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if req.Header.Get("Authorization") == "" && s.auth.session(req) {
			next(w, req)
			return
		}
		body, err := readBody(req)
		if err != nil {
			s.refuse(w, err)
			return
		}
		if _, err := s.auth.verify(req, body); err != nil {
			s.log.Info("operator auth refused", "path", req.URL.Path, "reason", err.Error())
			s.refuse(w, err)
			return
		}
		next(w, req)
	}
}

// serveLogin turns a valid NIP-98 request by the operator into a session
// cookie, so the page need not ask the signer for every refresh.
func (s *Server) serveLogin(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	body, err := readBody(req)
	if err != nil {
		s.refuse(w, err)
		return
	}
	pk, err := s.auth.verify(req, body)
	if err != nil {
		s.log.Info("operator login refused", "pubkey", pk, "reason", err.Error())
		s.refuse(w, err)
		return
	}
	token, exp, err := s.auth.newSession()
	if err != nil {
		s.log.Error("operator session", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "could not start a session"})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/admin", Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: req.TLS != nil || strings.HasPrefix(s.cfg.BaseURL, "https://"),
	})
	s.log.Info("operator logged in", "pubkey", pk)
	writeJSON(w, http.StatusOK, map[string]any{"pubkey": pk, "expires": exp.Unix()})
}

func (s *Server) serveLogout(w http.ResponseWriter, req *http.Request) {
	s.auth.endSession(req)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/admin", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]string{"ok": "logged out"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
