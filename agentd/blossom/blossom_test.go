package blossom_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/internal/npmtest"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/blossom"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/creq"
	"github.com/sovmesh/sovmesh/market/pay/nut24/nut24test"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport/store"
)

// authHeader signs a kind 24242 authorization for verb over hashes, valid
// for ttl from now, as a Blossom client sends it (BUD-01).
func authHeader(t testing.TB, sk, verb string, ttl time.Duration, hashes ...string) string {
	t.Helper()
	now := time.Now()
	ev := nostr.Event{Kind: blossom.KindAuth, CreatedAt: nostr.Timestamp(now.Unix()), Content: verb + " blob",
		Tags: nostr.Tags{{"t", verb}, {"expiration", strconv.FormatInt(now.Add(ttl).Unix(), 10)}}}
	for _, h := range hashes {
		ev.Tags = append(ev.Tags, nostr.Tag{"x", h})
	}
	if err := ev.Sign(sk); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev)
	return "Nostr " + base64.StdEncoding.EncodeToString(b)
}

func shaHex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// env is a running storage provider serving Blossom, its offer seen by a
// funded buyer node.
type env struct {
	p, b  *agentd.Node
	url   string // announced in the storage offer
	offer nips.Offer
	http  *http.Client
}

// start runs a provider with --blossom and waits for its storage offer
// (with the blossom tag) on the relay.
func start(t *testing.T) *env {
	t.Helper()
	net := agentdtest.Start(t)
	pn := net.Node(t, "p", 0)
	bn := net.Node(t, "b", 500)
	prov, err := provider.New(pn, provider.Config{Storage: &provider.StorageConfig{Quota: 1 << 20, PriceMsat: 2_000_000, Retention: 86400},
		Blossom: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan nips.Offer, 4)
	sctx, stopSub := context.WithCancel(t.Context())
	ready := make(chan struct{})
	go bn.Relays.Subscribe(sctx, nostr.Filters{{Kinds: []int{nips.KindOffer}, Authors: []string{pn.Key.Pubkey}}}, func(ev *nostr.Event) {
		if o, err := nips.ParseOffer(ev); err == nil && o.Resource == nips.Storage {
			select {
			case got <- o:
			default:
			}
		}
	}, ready)
	<-ready
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = prov.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	var o nips.Offer
	select {
	case o = <-got:
	case <-time.After(60 * time.Second):
		t.Fatal("no storage offer")
	}
	stopSub()
	if o.Blossom == "" || o.Blossom != "http://"+prov.BlossomAddr() {
		t.Fatalf("offer announces Blossom at %q, server on %q", o.Blossom, prov.BlossomAddr())
	}
	return &env{p: pn, b: bn, url: o.Blossom, offer: o, http: &http.Client{Timeout: 30 * time.Second}}
}

func (e *env) do(t *testing.T, method, path string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// pay decodes the 402's NUT-24 request and pays it from the buyer's
// wallet, returning the cashuB token and the amount asked.
func (e *env) pay(t *testing.T, resp *http.Response) (string, uint64) {
	t.Helper()
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("want 402, got %s", resp.Status)
	}
	enc := resp.Header.Get("X-Cashu")
	if !strings.HasPrefix(enc, "creqA") {
		t.Fatalf("X-Cashu %q is not a NUT-18 request", enc)
	}
	pr, err := creq.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Unit != "sat" || len(pr.Mints) == 0 || pr.Mints[0] != e.offer.Payments[0].Mint || len(pr.Transports) != 0 {
		t.Fatalf("payment request %+v", pr)
	}
	_, sent, err := e.b.Wallet.PayRequest(t.Context(), pr, cashu.PayRequestOptions{Max: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sent.Token, "cashuB") {
		t.Fatalf("token %.8s", sent.Token)
	}
	return sent.Token, pr.Amount
}

func earned(t *testing.T, n *agentd.Node) uint64 {
	t.Helper()
	tot, err := n.DB.Totals(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return tot.Earned
}

// TestBlossomPaidUploadAndRetrieval: BUD-02 upload paid per BUD-07/NUT-24
// at the storage offer's prices, BUD-01 GET (paid), HEAD, ranges, list,
// and delete, against a real provider and mint.
func TestBlossomPaidUploadAndRetrieval(t *testing.T) {
	e := start(t)
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	blob := bytes.Repeat([]byte("sovmesh blossom "), 300)
	sha := shaHex(blob)
	up := map[string]string{"Authorization": authHeader(t, sk, blossom.VerbUpload, time.Hour, sha), "Content-Type": "text/plain"}

	// Unpaid: 402 with a NUT-24 request for the offer's storage price.
	resp, _ := e.do(t, http.MethodPut, "/upload", blob, up)
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatal("no CORS header")
	}
	tok, amount := e.pay(t, resp)
	want := market.ChargeSats(e.offer.Prices, e.offer.Retention, market.OpStore, uint64(len(blob)))
	if amount != want || want == 0 {
		t.Fatalf("asked %d sat, the offer's prices say %d", amount, want)
	}
	// BUD-06: HEAD /upload states the same requirement.
	hresp, _ := e.do(t, http.MethodHead, "/upload", nil, map[string]string{"Authorization": up["Authorization"],
		"X-SHA-256": sha, "X-Content-Length": strconv.Itoa(len(blob))})
	if hresp.StatusCode != http.StatusPaymentRequired || hresp.Header.Get("X-Cashu") == "" {
		t.Fatalf("HEAD /upload: %s", hresp.Status)
	}

	// Paid: the blob descriptor, and the earning in the ledger.
	up["X-Cashu"] = tok
	resp, body := e.do(t, http.MethodPut, "/upload", blob, up)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("paid upload: %s %s", resp.Status, body)
	}
	var d blossom.Descriptor
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	if d.SHA256 != sha || d.Size != int64(len(blob)) || d.Type != "text/plain" || d.URL != e.url+"/"+sha+".txt" || d.Uploaded == 0 {
		t.Fatalf("descriptor %+v", d)
	}
	if got := earned(t, e.p); got != want {
		t.Fatalf("ledger earned %d, paid %d", got, want)
	}
	// The same token does not pay twice.
	resp, _ = e.do(t, http.MethodPut, "/upload", blob, up)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Reason") == "" {
		t.Fatalf("reused token: %s", resp.Status)
	}

	// HEAD is free and tells size, type and range support.
	resp, _ = e.do(t, http.MethodHead, "/"+sha, nil, nil)
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(blob)) || resp.Header.Get("Accept-Ranges") != "bytes" ||
		resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("HEAD: %s %d %v", resp.Status, resp.ContentLength, resp.Header)
	}

	// GET pays retrieval (nut24's client pays the 402 and retries).
	c := &nut24test.Client{Wallet: e.b.Wallet, HTTP: e.http, Max: 10}
	get := func(path, rng string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.url+path, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	before := earned(t, e.p)
	resp, body = get("/"+sha+".txt", "")
	if resp.StatusCode != 200 || !bytes.Equal(body, blob) {
		t.Fatalf("GET: %s, %d bytes", resp.Status, len(body))
	}
	if got := earned(t, e.p) - before; got != market.ChargeSats(e.offer.Prices, 0, market.OpRetrieve, uint64(len(blob))) {
		t.Fatalf("GET earned %d", got)
	}
	resp, body = get("/"+sha, "bytes=8-14")
	if resp.StatusCode != http.StatusPartialContent || string(body) != "blossom" ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 8-14/%d", len(blob)) {
		t.Fatalf("range GET: %s %q", resp.Status, body)
	}

	// List is the uploader's blobs.
	resp, body = e.do(t, http.MethodGet, "/list/"+pk, nil, nil)
	var ds []blossom.Descriptor
	if err := json.Unmarshal(body, &ds); err != nil || resp.StatusCode != 200 || len(ds) != 1 || ds[0] != d {
		t.Fatalf("list: %s %s", resp.Status, body)
	}
	resp, body = e.do(t, http.MethodGet, "/list/"+pk+"?since="+strconv.FormatInt(d.Uploaded+1, 10), nil, nil)
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("list since: %s", body)
	}

	// Delete needs the owner's delete authorization naming the blob.
	other := nostr.GeneratePrivateKey()
	for _, tc := range []struct {
		name string
		auth string
		want int
	}{
		{"no auth", "", http.StatusUnauthorized},
		{"upload verb", authHeader(t, sk, blossom.VerbUpload, time.Hour, sha), http.StatusUnauthorized},
		{"other blob", authHeader(t, sk, blossom.VerbDelete, time.Hour, shaHex([]byte("x"))), http.StatusForbidden},
		{"not the owner", authHeader(t, other, blossom.VerbDelete, time.Hour, sha), http.StatusNotFound},
		{"owner", authHeader(t, sk, blossom.VerbDelete, time.Hour, sha), http.StatusOK},
		{"gone", authHeader(t, sk, blossom.VerbDelete, time.Hour, sha), http.StatusNotFound},
	} {
		resp, _ := e.do(t, http.MethodDelete, "/"+sha, nil, map[string]string{"Authorization": tc.auth})
		if resp.StatusCode != tc.want {
			t.Fatalf("delete %s: %s, want %d", tc.name, resp.Status, tc.want)
		}
	}
	if resp, _ := e.do(t, http.MethodHead, "/"+sha, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted blob: %s", resp.Status)
	}
}

// TestBlossomRefusals: bad authorizations, wrong hashes, lying lengths
// and oversize bodies get a clear 4xx with X-Reason, before payment where
// they can be seen before the body; a paid upload that fails keeps its
// token good for a retry, so no sat is lost.
func TestBlossomRefusals(t *testing.T) {
	e := start(t)
	sk := nostr.GeneratePrivateKey()
	blob := []byte("the right blob")
	sha := shaHex(blob)
	expired := func() string {
		ev := nostr.Event{Kind: blossom.KindAuth, CreatedAt: nostr.Now() - 100, Tags: nostr.Tags{{"t", "upload"}, {"x", sha}, {"expiration", strconv.FormatInt(time.Now().Unix()-10, 10)}}}
		_ = ev.Sign(sk)
		b, _ := json.Marshal(ev)
		return "Nostr " + base64.StdEncoding.EncodeToString(b)
	}()
	tampered := func() string {
		ev := nostr.Event{Kind: blossom.KindAuth, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"t", "upload"}, {"x", sha}, {"expiration", strconv.FormatInt(time.Now().Unix()+600, 10)}}}
		_ = ev.Sign(sk)
		ev.Tags = append(ev.Tags, nostr.Tag{"x", shaHex([]byte("more"))}) // id no longer matches
		b, _ := json.Marshal(ev)
		return "Nostr " + base64.StdEncoding.EncodeToString(b)
	}()
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		body []byte
		want int
	}{
		{"no auth", nil, blob, http.StatusUnauthorized},
		{"garbage", map[string]string{"Authorization": "Nostr !!!"}, blob, http.StatusUnauthorized},
		{"not json", map[string]string{"Authorization": "Nostr " + base64.StdEncoding.EncodeToString([]byte("{"))}, blob, http.StatusUnauthorized},
		{"bearer", map[string]string{"Authorization": "Bearer abc"}, blob, http.StatusUnauthorized},
		{"expired", map[string]string{"Authorization": expired}, blob, http.StatusUnauthorized},
		{"tampered", map[string]string{"Authorization": tampered}, blob, http.StatusUnauthorized},
		{"get verb", map[string]string{"Authorization": authHeader(t, sk, blossom.VerbGet, time.Hour, sha)}, blob, http.StatusUnauthorized},
		{"no x tag", map[string]string{"Authorization": authHeader(t, sk, blossom.VerbUpload, time.Hour)}, blob, http.StatusUnauthorized},
		{"X-SHA-256 not authorized", map[string]string{"Authorization": authHeader(t, sk, blossom.VerbUpload, time.Hour, sha),
			"X-SHA-256": shaHex([]byte("other"))}, blob, http.StatusForbidden},
		{"empty", map[string]string{"Authorization": authHeader(t, sk, blossom.VerbUpload, time.Hour, sha)}, []byte{}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := e.do(t, http.MethodPut, "/upload", tc.body, tc.hdr)
			if resp.StatusCode != tc.want || resp.Header.Get("X-Reason") == "" {
				t.Fatalf("%s (X-Reason %q), want %d", resp.Status, resp.Header.Get("X-Reason"), tc.want)
			}
		})
	}

	raw := func(t *testing.T, head string, body []byte) (int, string) {
		t.Helper()
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write(body)
		_ = conn.(*net.TCPConn).CloseWrite()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Reason")
	}
	auth := authHeader(t, sk, blossom.VerbUpload, time.Hour, sha)
	host := strings.TrimPrefix(e.url, "http://")
	// Over the largest blob (the 1 MiB quota): refused before any payment or byte.
	if st, _ := raw(t, fmt.Sprintf("PUT /upload HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Length: %d\r\n", host, auth, 2<<20), nil); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversize: %d", st)
	}
	// No length: 411.
	if st, _ := raw(t, fmt.Sprintf("PUT /upload HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nTransfer-Encoding: chunked\r\n", host, auth), []byte("5\r\nhello\r\n0\r\n\r\n")); st != http.StatusLengthRequired {
		t.Fatalf("chunked: %d", st)
	}
	// A huge header: 431, not a stall or a crash.
	if st, _ := raw(t, fmt.Sprintf("PUT /upload HTTP/1.1\r\nHost: %s\r\nAuthorization: Nostr %s\r\nContent-Length: 1\r\n", host, strings.Repeat("A", 64<<10)), nil); st != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("huge header: %d", st)
	}

	// Paid, then a body whose hash the authorization does not name: 403.
	resp, _ := e.do(t, http.MethodPut, "/upload", blob, map[string]string{"Authorization": auth})
	tok, price := e.pay(t, resp)
	resp, _ = e.do(t, http.MethodPut, "/upload", []byte("the wrong blob"), map[string]string{"Authorization": auth, "X-Cashu": tok})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong hash: %s", resp.Status)
	}
	// ... and a body shorter than its Content-Length: 400.
	st, reason := raw(t, fmt.Sprintf("PUT /upload HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nX-Cashu: %s\r\nContent-Length: %d\r\n", host, auth, tok, len(blob)), blob[:5])
	if st != http.StatusBadRequest || !strings.Contains(reason, "Content-Length") {
		t.Fatalf("short body: %d %q", st, reason)
	}
	// The token was redeemed once and still pays the retry with the right body.
	resp, body := e.do(t, http.MethodPut, "/upload", blob, map[string]string{"Authorization": auth, "X-Cashu": tok})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("retry with the same token: %s %s", resp.Status, body)
	}
	if got := earned(t, e.p); got != price {
		t.Fatalf("earned %d for one paid upload of %d", got, price)
	}
	// Garbage in X-Cashu: 400 with a reason.
	resp, _ = e.do(t, http.MethodPut, "/upload", blob, map[string]string{"Authorization": auth, "X-Cashu": "cashuBgarbage"})
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Reason") == "" {
		t.Fatalf("garbage token: %s", resp.Status)
	}
	// The quota is shared with the chunk store: a blob that does not fit
	// in what is left is refused before payment.
	big := bytes.Repeat([]byte{7}, 600<<10)
	bigAuth := authHeader(t, sk, blossom.VerbUpload, time.Hour, shaHex(big))
	resp, _ = e.do(t, http.MethodPut, "/upload", big, map[string]string{"Authorization": bigAuth})
	tok, _ = e.pay(t, resp)
	if resp, body := e.do(t, http.MethodPut, "/upload", big, map[string]string{"Authorization": bigAuth, "X-Cashu": tok}); resp.StatusCode != 200 {
		t.Fatalf("600 KiB upload: %s %s", resp.Status, body)
	}
	big2 := bytes.Repeat([]byte{8}, 600<<10)
	resp, _ = e.do(t, http.MethodPut, "/upload", big2, map[string]string{"Authorization": authHeader(t, sk, blossom.VerbUpload, time.Hour, shaHex(big2))})
	if resp.StatusCode != http.StatusInsufficientStorage || resp.Header.Get("X-Cashu") != "" {
		t.Fatalf("over quota: %s", resp.Status)
	}
	// Unknown paths and methods.
	for _, p := range []string{"/nothing", "/" + strings.Repeat("g", 64), "/list/xyz"} {
		if resp, _ := e.do(t, http.MethodGet, p, nil, nil); resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Fatalf("GET %s: %s", p, resp.Status)
		}
	}
}

// TestBlossomClientSDK: blossom-client-sdk (hzrd149's TypeScript client,
// from npm) uploads, pays, downloads, lists and deletes against agentd's
// server. It skips when node or the npm packages are missing, unless
// SOVMESH_REQUIRE_NPM is set (as .ci/run sets it after npm ci).
func TestBlossomClientSDK(t *testing.T) {
	dir := filepath.Join("testdata", "blossomsdk")
	node := npmtest.Node(t, dir, "blossom-client-sdk")
	e := start(t)
	size := uint64(len(strings.Repeat("hello from blossom-client-sdk ", 40)))
	upPrice := market.ChargeSats(e.offer.Prices, e.offer.Retention, market.OpStore, size)
	getPrice := market.ChargeSats(e.offer.Prices, 0, market.OpRetrieve, size)
	token := func(sats uint64) string {
		s, err := e.b.Wallet.Send(t.Context(), sats, cashu.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Token
	}
	sk := nostr.GeneratePrivateKey()
	cmd := exec.CommandContext(t.Context(), node, "interop.mjs", e.url, sk, token(upPrice), token(getPrice))
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("blossom-client-sdk: %v\n%s", err, stderr.String())
	}
	var got struct {
		Descriptor blossom.Descriptor
		Requests   []struct {
			Amount uint64
			Unit   string
			Mints  []string
		}
		Downloaded, Deleted bool
		Listed, After       int
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("printed %q: %v", out, err)
	}
	if len(got.Requests) != 2 || got.Requests[0].Amount != upPrice || got.Requests[1].Amount != getPrice ||
		got.Requests[0].Unit != "sat" || len(got.Requests[0].Mints) != 1 || got.Requests[0].Mints[0] != e.offer.Payments[0].Mint {
		t.Fatalf("payment requests as the SDK read them: %+v (prices %d, %d)", got.Requests, upPrice, getPrice)
	}
	if got.Descriptor.Size != int64(size) || got.Descriptor.Type != "text/plain" || !got.Downloaded || got.Listed != 1 || !got.Deleted || got.After != 0 {
		t.Fatalf("SDK saw %+v", got)
	}
	if earned(t, e.p) != upPrice+getPrice {
		t.Fatalf("earned %d, paid %d", earned(t, e.p), upPrice+getPrice)
	}
}

// TestBlossomSlowClient: a client that never finishes its headers, or
// its paid body, is cut off and does not stall the others; the token of
// the cut-off upload pays its retry; Serve ends with its context.
func TestBlossomSlowClient(t *testing.T) {
	tn := agentdtest.Start(t)
	n := tn.Node(t, "p", 0)
	buyer := tn.Node(t, "b", 50)
	q, err := store.Open(filepath.Join(t.TempDir(), "chunks"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := blossom.New(blossom.Config{Dir: filepath.Join(t.TempDir(), "blossom"), Quota: q, Wallet: n.Wallet, DB: n.DB,
		Prices: func() nips.Prices { return nips.Prices{{Unit: nips.UnitGiBDay, Msat: 1000}} }, HeaderTimeout: 300 * time.Millisecond, BodyTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "PUT /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Nostr "); err != nil {
		t.Fatal(err)
	}
	// Others are served meanwhile.
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + ln.Addr().String() + "/list/" + strings.Repeat("ab", 32))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("list while a client is slow: %v %v", resp, err)
	}
	resp.Body.Close()
	// The slow one is closed by the server (long before this deadline).
	_ = slow.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, slow); err != nil {
		t.Fatalf("slow client not cut off: %v", err)
	}

	// A paid upload whose body stops half-way: 400 once its time is up.
	blob := bytes.Repeat([]byte("z"), 1000)
	sk := nostr.GeneratePrivateKey()
	auth := authHeader(t, sk, blossom.VerbUpload, time.Hour, shaHex(blob))
	sent, err := buyer.Wallet.Send(t.Context(), 1, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	trickle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer trickle.Close()
	_ = trickle.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(trickle, "PUT /upload HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nX-Cashu: %s\r\nContent-Length: %d\r\n\r\n", auth, sent.Token, len(blob))
	_, _ = trickle.Write(blob[:100])
	resp, err = http.ReadResponse(bufio.NewReader(trickle), nil)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("stalled body: %v %v", resp, err)
	}
	resp.Body.Close()
	// The same token pays the retry.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, "http://"+ln.Addr().String()+"/upload", bytes.NewReader(blob))
	req.Header.Set("Authorization", auth)
	req.Header.Set("X-Cashu", sent.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("retry: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
