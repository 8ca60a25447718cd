// Package blossom is a storage provider's Blossom server: blobs addressed
// by their SHA-256 (BUD-01 GET and HEAD with ranges, BUD-02 upload, list
// and delete with kind 24242 authorization, BUD-06 upload requirements),
// paid with Cashu ecash over HTTP 402 (BUD-07, NUT-24: market/pay/nut24)
// at the provider's storage prices (market.ChargeSats): an upload pays
// holding for the offer's retention plus upload, a GET pays retrieval for
// the bytes it returns.
//
// The blobs sit beside the provider's chunk store and count in its quota.
// sovmesh's own files never go through here; they stay ciphertext chunks.
//
// Money: a payment is redeemed (and its earning written to the ledger in
// the receive's transaction) only after every check that can be made
// before the body arrives (authorization, size, quota). A paid request
// that then fails (a body whose hash the authorization does not name, a
// body shorter than its Content-Length, a disk error) is answered 4xx/5xx
// and its token serves one retry of the same method and path within the
// NUT-24 replay window (10 minutes), so the payer loses nothing by
// retrying with it.
package blossom

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/internal/httpserve"
	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/nut24"
	"github.com/sovmesh/sovmesh/nips"
)

// Defaults and bounds.
const (
	DefaultMaxSize    = 100 << 20 // largest blob
	DefaultMaxUploads = 8         // concurrent uploads
	DefaultMinRate    = 64 << 10  // bytes/s a body or a response must move at
	maxHeaderBytes    = 16 << 10
	maxListed         = 1000
	headerTimeout     = 10 * time.Second
	idleTimeout       = 60 * time.Second
	slack             = 30 * time.Second // on top of size/MinRate
)

// Config configures a Server.
type Config struct {
	Dir    string // blob directory
	Quota  Quota  // shared with the chunk store
	Wallet *cashu.Wallet
	DB     *state.DB // the earnings ledger
	// Prices returns the storage prices now (the offer's).
	Prices func() nips.Prices
	// Hold is how long an upload is paid for and kept (the offer's
	// retention).
	Hold time.Duration
	// PublicURL is the base of the blob URLs in descriptors; "" takes it
	// from the request's Host.
	PublicURL    string
	MaxSize      int64 // default DefaultMaxSize
	MaxUploads   int   // default DefaultMaxUploads
	MinRate      int64 // default DefaultMinRate
	AllowOffline bool  // accept tokens on DLEQ while the mint is down
	// HeaderTimeout bounds reading a request's headers (default 10 s).
	HeaderTimeout time.Duration
	// BodyTimeout is the time a body (or a response) gets on top of its
	// size at MinRate (default 30 s).
	BodyTimeout time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// Server serves Blossom.
type Server struct {
	cfg     Config
	log     *slog.Logger
	blobs   *blobs
	uploads chan struct{}
	handler http.Handler
	paidPut http.Handler
	paidGet http.Handler
}

// New opens the blob directory and prepares the server.
func New(cfg Config) (*Server, error) {
	if cfg.Wallet == nil || cfg.DB == nil || cfg.Prices == nil || cfg.Quota == nil || cfg.Dir == "" {
		return nil, errors.New("blossom: wallet, ledger, prices, quota and directory are required")
	}
	if cfg.Hold <= 0 {
		cfg.Hold = 30 * 24 * time.Hour
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = DefaultMaxUploads
	}
	if cfg.MinRate <= 0 {
		cfg.MinRate = DefaultMinRate
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = slack
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = headerTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b, err := openBlobs(cfg.Dir, cfg.Quota)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log.With("service", "blossom"), blobs: b, uploads: make(chan struct{}, cfg.MaxUploads)}
	pay := &nut24.Server{Wallet: cfg.Wallet, Logger: s.log,
		Price: func(r *http.Request) uint64 { return paidOf(r).price },
		Receive: func(r *http.Request) cashu.ReceiveOptions {
			p := paidOf(r)
			return cashu.ReceiveOptions{Counterparty: p.payer, AllowOffline: cfg.AllowOffline,
				OnJournal: cfg.DB.Recorder(state.Entry{Session: "blossom:" + p.what, Kind: state.Earn, Counterparty: p.payer, Resource: nips.Storage})}
		}}
	s.paidPut = pay.Wrap(http.HandlerFunc(s.receive))
	s.paidGet = pay.Wrap(http.HandlerFunc(s.serveBlob))
	s.handler = http.HandlerFunc(s.route)
	return s, nil
}

// Serve serves on ln until ctx ends, with bounded headers and timeouts.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: s.cfg.HeaderTimeout, IdleTimeout: idleTimeout,
		MaxHeaderBytes: maxHeaderBytes, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context { return ctx }}
	return httpserve.Serve(ctx, ln, hs, 5*time.Second)
}

// Sweep deletes the blobs whose paid period ended.
func (s *Server) Sweep() (int, error) { return s.blobs.sweep(s.cfg.Now()) }

// paid is what the payment wall needs to know of a request.
type paid struct {
	price uint64
	payer string // pubkey, "" if the request is not authorized
	what  string // ledger session suffix
	auth  Auth
	size  int64
	sha   string
	done  bool // the upload's reservation went to a stored blob
}

type paidKey struct{}

func paidOf(r *http.Request) *paid {
	if p, ok := r.Context().Value(paidKey{}).(*paid); ok {
		return p
	}
	return &paid{}
}

func fail(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("X-Reason", reason)
	http.Error(w, reason, status)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "X-Cashu, X-Reason, Content-Length, Content-Range, Accept-Ranges")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Headers", "Authorization, *")
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, DELETE")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/upload" && r.Method == http.MethodPut:
		s.upload(w, r)
	case p == "/upload" && r.Method == http.MethodHead:
		s.uploadRequirements(w, r)
	case strings.HasPrefix(p, "/list/") && r.Method == http.MethodGet:
		s.list(w, r, strings.TrimPrefix(p, "/list/"))
	default:
		sha, ok := blobPath(p)
		if !ok {
			fail(w, http.StatusNotFound, "not found")
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			s.get(w, r, sha)
		case http.MethodDelete:
			s.delete(w, r, sha)
		default:
			w.Header().Set("Allow", "GET, HEAD, DELETE")
			fail(w, http.StatusMethodNotAllowed, "method not allowed")
		}
	}
}

// blobPath reads /<sha256>[.ext].
func blobPath(p string) (string, bool) {
	p = strings.TrimPrefix(p, "/")
	sha, ext, _ := strings.Cut(p, ".")
	if !isSHA256(strings.ToLower(sha)) || len(ext) > 16 || strings.ContainsAny(ext, "/.") {
		return "", false
	}
	return strings.ToLower(sha), true
}

// checkUpload makes the checks an upload of size bytes of sha passes
// before any byte or sat moves; it returns an HTTP status and reason, or 0.
func (s *Server) checkUpload(a Auth, sha string, size int64) (int, string) {
	switch {
	case len(a.X) == 0:
		return http.StatusUnauthorized, "the authorization names no blob (x tag)"
	case sha != "" && !a.Allows(sha):
		return http.StatusForbidden, "the authorization does not name this blob"
	case size < 0:
		return http.StatusLengthRequired, "Content-Length required"
	case size == 0:
		return http.StatusBadRequest, "empty blob"
	case size > s.cfg.MaxSize:
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("blob over %d bytes", s.cfg.MaxSize)
	}
	return 0, ""
}

func (s *Server) uploadPrice(size int64) uint64 {
	return market.ChargeSats(s.cfg.Prices(), uint64(s.cfg.Hold/time.Second), market.OpStore, uint64(size))
}

// uploadRequirements answers BUD-06 HEAD /upload: whether an upload of
// X-SHA-256, X-Content-Length would be taken, and its price (402).
func (s *Server) uploadRequirements(w http.ResponseWriter, r *http.Request) {
	a, err := ParseAuth(r.Header.Get("Authorization"), VerbUpload, s.cfg.Now())
	if err != nil {
		fail(w, http.StatusUnauthorized, err.Error())
		return
	}
	sha := strings.ToLower(r.Header.Get("X-SHA-256"))
	size, err := strconv.ParseInt(r.Header.Get("X-Content-Length"), 10, 64)
	if err != nil || !isSHA256(sha) {
		fail(w, http.StatusBadRequest, "X-SHA-256 and X-Content-Length required")
		return
	}
	if st, why := s.checkUpload(a, sha, size); st != 0 {
		fail(w, st, why)
		return
	}
	if err := s.cfg.Quota.Reserve(size); err != nil {
		fail(w, http.StatusInsufficientStorage, "not enough space")
		return
	}
	s.cfg.Quota.Release(size)
	p := &paid{price: s.uploadPrice(size)}
	// The wall answers 402 with the request; a HEAD is never paid (BUD-07).
	r.Header.Del(nut24.Header)
	s.paidPut.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), paidKey{}, p)))
}

// upload is PUT /upload: checks, then the payment wall, then receive.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	a, err := ParseAuth(r.Header.Get("Authorization"), VerbUpload, s.cfg.Now())
	if err != nil {
		fail(w, http.StatusUnauthorized, err.Error())
		return
	}
	sha := strings.ToLower(r.Header.Get("X-SHA-256")) // BUD-06, optional
	if sha != "" && !isSHA256(sha) {
		fail(w, http.StatusBadRequest, "bad X-SHA-256")
		return
	}
	if st, why := s.checkUpload(a, sha, r.ContentLength); st != 0 {
		fail(w, st, why)
		return
	}
	select {
	case s.uploads <- struct{}{}:
		defer func() { <-s.uploads }()
	default:
		w.Header().Set("Retry-After", "5")
		fail(w, http.StatusServiceUnavailable, "too many uploads in progress")
		return
	}
	size := r.ContentLength
	if err := s.cfg.Quota.Reserve(size); err != nil {
		fail(w, http.StatusInsufficientStorage, "not enough space")
		return
	}
	what := "upload"
	if sha != "" {
		what += ":" + sha
	} else if len(a.X) == 1 {
		what += ":" + a.X[0]
	}
	p := &paid{price: s.uploadPrice(size), payer: a.Pubkey, what: what, auth: a, size: size}
	defer func() {
		if !p.done {
			s.cfg.Quota.Release(size)
		}
	}()
	s.paidPut.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), paidKey{}, p)))
}

// receive reads a paid upload's body, checks its hash against the
// authorization and stores it.
func (s *Server) receive(w http.ResponseWriter, r *http.Request) {
	p := paidOf(r)
	if p.payer == "" { // a HEAD /upload that needed no payment
		w.WriteHeader(http.StatusOK)
		return
	}
	// A body that trickles in is cut off: its size at MinRate, plus slack.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout + time.Duration(p.size/s.cfg.MinRate)*time.Second))
	f, err := s.blobs.tempFile()
	if err != nil {
		s.log.Warn("upload not stored", "err", err)
		fail(w, http.StatusInternalServerError, "cannot store the blob")
		return
	}
	defer func() { _ = os.Remove(f.Name()) }() // gone already once stored
	h := sha256.New()
	disk := &errWriter{w: f}
	n, err := io.Copy(io.MultiWriter(disk, h), io.LimitReader(r.Body, p.size+1))
	if disk.err == nil {
		disk.err = f.Sync()
	}
	if cerr := f.Close(); disk.err == nil {
		disk.err = cerr
	}
	if disk.err != nil {
		s.log.Warn("upload not stored", "err", disk.err)
		fail(w, http.StatusInternalServerError, "cannot store the blob")
		return
	}
	if err != nil || n != p.size {
		s.log.Info("upload cut short", "pubkey", p.payer, "want", p.size, "got", n, "err", err)
		fail(w, http.StatusBadRequest, fmt.Sprintf("body of %d bytes, Content-Length %d", n, p.size))
		return
	}
	sha := hex.EncodeToString(h.Sum(nil))
	if !p.auth.Allows(sha) {
		fail(w, http.StatusForbidden, "the authorization does not name the body's sha256 "+sha)
		return
	}
	now := s.cfg.Now()
	m, used, err := s.blobs.add(sha, f.Name(), p.size, contentType(r.Header.Get("Content-Type")), p.payer, now.Add(s.cfg.Hold).Unix(), now.Unix())
	if err != nil {
		s.log.Warn("upload not stored", "sha256", sha, "err", err)
		fail(w, http.StatusInternalServerError, "cannot store the blob")
		return
	}
	p.done = used
	s.log.Info("blob stored", "sha256", sha, "size", p.size, "pubkey", p.payer, "sats", p.price)
	writeJSON(w, s.descriptor(r, sha, m))
}

// errWriter remembers its writer's error (the disk's, not the body's).
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	n, err := e.w.Write(b)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// contentType keeps a well-formed media type, else octet-stream.
func contentType(v string) string {
	mt, _, err := mime.ParseMediaType(v)
	if err != nil || len(mt) > 100 || !strings.Contains(mt, "/") {
		return "application/octet-stream"
	}
	return mt
}

// Descriptor is a BUD-02 blob descriptor.
type Descriptor struct {
	URL      string `json:"url"`
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	Type     string `json:"type"`
	Uploaded int64  `json:"uploaded"`
}

func (s *Server) descriptor(r *http.Request, sha string, m meta) Descriptor {
	base := s.cfg.PublicURL
	if base == "" {
		base = "http://" + r.Host
	}
	ext, ok := commonExt[m.Type]
	if !ok {
		ext = ".bin"
		if exts, _ := mime.ExtensionsByType(m.Type); len(exts) > 0 {
			slices.Sort(exts)
			ext = exts[0]
		}
	}
	return Descriptor{URL: base + "/" + sha + ext, SHA256: sha, Size: m.Size, Type: m.Type, Uploaded: m.Uploaded}
}

// commonExt is the usual extension of the common types (the system's
// table lists several for some, e.g. .asc before .txt).
var commonExt = map[string]string{
	"text/plain": ".txt", "text/html": ".html", "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif",
	"image/webp": ".webp", "video/mp4": ".mp4", "audio/mpeg": ".mp3", "application/pdf": ".pdf",
	"application/json": ".json", "application/octet-stream": ".bin",
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// get is GET and HEAD /<sha256>: HEAD is free, GET pays retrieval for
// the bytes it returns (the range, if one).
func (s *Server) get(w http.ResponseWriter, r *http.Request, sha string) {
	m, ok := s.blobs.get(sha)
	if !ok {
		fail(w, http.StatusNotFound, "blob not found")
		return
	}
	if r.Method == http.MethodHead {
		s.serveBlob(w, r.WithContext(context.WithValue(r.Context(), paidKey{}, &paid{sha: sha})))
		return
	}
	n := rangeLen(r.Header.Get("Range"), m.Size)
	p := &paid{price: market.ChargeSats(s.cfg.Prices(), 0, market.OpRetrieve, uint64(n)), what: "get:" + sha, sha: sha, size: n}
	s.paidGet.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), paidKey{}, p)))
}

// rangeLen is the bytes a single-range request asks of a blob of size
// bytes; any other (or none) is the whole blob.
func rangeLen(h string, size int64) int64 {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return size
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return size
	}
	if a == "" { // suffix: the last b bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return size
		}
		return min(n, size)
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 || start >= size {
		return size
	}
	end := size - 1
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
			return size
		}
	}
	return min(end, size-1) - start + 1
}

// serveBlob writes a blob (ranges, HEAD and conditionals by ServeContent).
func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request) {
	p := paidOf(r)
	f, m, err := s.blobs.open(p.sha)
	if err != nil {
		fail(w, http.StatusNotFound, "blob not found")
		return
	}
	defer f.Close()
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.cfg.BodyTimeout + time.Duration(m.Size/s.cfg.MinRate)*time.Second))
	h := w.Header()
	h.Set("Content-Type", m.Type)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", `"`+p.sha+`"`)
	http.ServeContent(w, r, "", time.Unix(m.Uploaded, 0), f)
}

// list is GET /list/<pubkey>?since&until (free, newest first, at most
// maxListed).
func (s *Server) list(w http.ResponseWriter, r *http.Request, pubkey string) {
	if !isSHA256(strings.ToLower(pubkey)) {
		fail(w, http.StatusBadRequest, "pubkey must be 64 hex characters")
		return
	}
	q := r.URL.Query()
	bound := func(k string) (int64, bool) {
		v := q.Get(k)
		if v == "" {
			return 0, true
		}
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil && n >= 0
	}
	since, ok1 := bound("since")
	until, ok2 := bound("until")
	if !ok1 || !ok2 {
		fail(w, http.StatusBadRequest, "since and until are unix timestamps")
		return
	}
	out := []Descriptor{}
	for _, b := range s.blobs.list(strings.ToLower(pubkey), since, until, maxListed) {
		out = append(out, s.descriptor(r, b.sha, b.m))
	}
	writeJSON(w, out)
}

// delete is DELETE /<sha256> with a delete authorization naming it: the
// signer stops owning it; the blob goes when no owner is left.
func (s *Server) delete(w http.ResponseWriter, r *http.Request, sha string) {
	a, err := ParseAuth(r.Header.Get("Authorization"), VerbDelete, s.cfg.Now())
	if err != nil {
		fail(w, http.StatusUnauthorized, err.Error())
		return
	}
	if !a.Allows(sha) {
		fail(w, http.StatusForbidden, "the authorization does not name this blob")
		return
	}
	if err := s.blobs.remove(sha, a.Pubkey); errors.Is(err, ErrNotFound) {
		fail(w, http.StatusNotFound, "no such blob of yours")
		return
	} else if err != nil {
		s.log.Warn("blob not deleted", "sha256", sha, "err", err)
		fail(w, http.StatusInternalServerError, "cannot delete the blob")
		return
	}
	s.log.Info("blob deleted", "sha256", sha, "pubkey", a.Pubkey)
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "deleted\n")
}
