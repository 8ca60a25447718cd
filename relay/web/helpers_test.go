package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fiatjaf/khatru"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/marketplace"
	"github.com/sovmesh/sovmesh/relay/relaytest"
	"github.com/sovmesh/sovmesh/relay/sqlitestore"
	"github.com/sovmesh/sovmesh/relay/web"
)

// offerFee is the publication fee (sats) the test relay charges per offer.
const offerFee = 3

// env is a real relay with the marketplace, a fee collector redeeming into
// a relay wallet at a real dev mint (TEST MONEY), and the web pages.
type env struct {
	*relaytest.Server
	web        *web.Server
	fees       *fees.Collector
	wallet     *cashu.Wallet
	operatorSK string
	operatorPK string
	mint       *devmint.Mint
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newKey(t testing.TB) (string, string) {
	t.Helper()
	sk := nostr.GeneratePrivateKey()
	pk, err := nostr.GetPublicKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return sk, pk
}

// startEnv runs the whole stack on 127.0.0.1. Trust flows from the relay's
// key and seeds, recomputed every 100 ms.
func startEnv(t *testing.T, seeds ...string) *env {
	t.Helper()
	return startEnvWith(t, nil, seeds...)
}

// startEnvWith is startEnv with the relay's configuration edited by rcfg.
func startEnvWith(t *testing.T, rcfg func(*relay.Config), seeds ...string) *env {
	t.Helper()
	e := &env{}
	e.operatorSK, e.operatorPK = newKey(t)

	m, err := devmint.Start(context.Background(), t.TempDir(), devmint.Options{})
	if err != nil {
		t.Fatalf("start dev mint: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
	})
	e.mint = m
	e.wallet = openWallet(t, m.URL())
	e.fees, err = fees.New(e.wallet.Journal(), e.wallet, fees.Config{Publication: map[int]uint64{nips.KindOffer: offerFee}}, quiet())
	if err != nil {
		t.Fatal(err)
	}

	mcfg := marketplace.DefaultConfig()
	mcfg.UnknownRate, mcfg.UnknownBurst, mcfg.TrustedRate, mcfg.TrustedBurst = 1000, 1000, 1000, 1000
	mcfg.Seeds, mcfg.TrustInterval = seeds, 100*time.Millisecond
	mk, err := marketplace.New(mcfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	feePolicy := relay.WithEventPolicy("payment", func(ctx context.Context, evt *nostr.Event) string {
		if err := e.fees.Charge(ctx, evt, khatru.GetAuthed(ctx)); err != nil {
			return fees.Prefix(err) + ": " + err.Error()
		}
		return ""
	})
	e.Server = relaytest.New(t, rcfg, append(mk.Options(), feePolicy)...)
	ctx, cancel := context.WithCancel(context.Background())
	if err := mk.Start(ctx, e.Relay); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		mk.Wait()
	})

	st, ok := e.Store().(*sqlitestore.Store)
	if !ok {
		t.Fatalf("relay store is %T, want *sqlitestore.Store", e.Store())
	}
	cfg := web.DefaultConfig()
	cfg.Operator = e.operatorPK
	e.web, err = web.New(cfg, st,
		web.WithLogger(quiet()),
		web.WithStats(e.Relay),
		web.WithEarnings(e.fees),
		web.WithWallet(e.wallet),
		web.WithRelayInfo(func() web.RelayInfo { return web.RelayInfo{Name: "test relay", Pubkey: e.PublicKey()} }),
		web.WithTrust(e.storeTrust(t, seeds)),
		web.WithListenURLs(func() []string { return e.ListenURLs("http") }),
	)
	if err != nil {
		t.Fatal(err)
	}
	e.web.Register(e.Mux())
	return e
}

func openWallet(t *testing.T, mint string) *cashu.Wallet {
	t.Helper()
	j, err := journal.Open(context.Background(), filepath.Join(t.TempDir(), "pay.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	cfg := cashu.DefaultConfig()
	cfg.Mints = []string{mint}
	cfg.PrivateKey = nostr.GeneratePrivateKey()
	w, err := cashu.Open(context.Background(), j, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// prepay funds a buyer wallet at the dev mint and tops up pubkey's prepaid
// fee balance with sats from it.
func (e *env) prepay(t *testing.T, pubkey string, sats uint64) {
	t.Helper()
	payer := openWallet(t, e.mint.URL())
	if err := payer.Fund(t.Context(), sats); err != nil {
		t.Fatalf("fund: %v", err)
	}
	sent, err := payer.Send(t.Context(), sats, cashu.SendOptions{})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if _, err := e.fees.TopUp(t.Context(), pubkey, sent.Token, ""); err != nil {
		t.Fatalf("top up: %v", err)
	}
}

func connect(t *testing.T, url string) *nostr.Relay {
	t.Helper()
	rl, err := nostr.RelayConnect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() })
	return rl
}

func publish(t *testing.T, rl *nostr.Relay, evt nostr.Event, sk string) nostr.Event {
	t.Helper()
	if err := evt.Sign(sk); err != nil {
		t.Fatal(err)
	}
	if err := rl.Publish(t.Context(), evt); err != nil {
		t.Fatalf("publish kind %d: %v", evt.Kind, err)
	}
	return evt
}

// offer is an offer of resource by the key, open for an hour.
func offer(id string, res nips.Resource, msat uint64, geohash, title string) nostr.Event {
	var o nips.Offer
	switch res {
	case nips.Storage:
		o = nipstest.StorageOffer()
	case nips.Inference:
		o = nipstest.InferenceOffer()
	default:
		o = nipstest.BandwidthOffer()
	}
	o.ID, o.Geohash, o.Title = id, geohash, title
	for i := range o.Prices {
		o.Prices[i].Msat = msat
	}
	o.Expiration = nostr.Now() + 3600
	return o.ToEvent(nostr.Now())
}

func presence(geohash string) nostr.Event {
	p := nipstest.Presence()
	p.Geohash = geohash
	p.Uptime = 93784 // 1d 2h 3m 4s
	p.Load = 42
	p.Expiration = nostr.Now() + 600
	return p.ToEvent(nostr.Now())
}

// authHeader is a NIP-98 Authorization header for method url signed by sk.
func authHeader(t *testing.T, sk, method, url string) string {
	t.Helper()
	evt := nostr.Event{Kind: nostr.KindHTTPAuth, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"u", url}, {"method", method}}}
	if err := evt.Sign(sk); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(evt)
	return "Nostr " + base64.StdEncoding.EncodeToString(b)
}

// get does GET url with the Authorization header h ("" for none) and
// decodes a JSON answer into v.
func get(t *testing.T, url, h string, v any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h != "" {
		req.Header.Set("Authorization", h)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, b)
		}
	}
	return resp.StatusCode
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle publishes a receipt by the provider for a session with buyer,
// countersigned by the buyer, and returns the signed event.
func settle(t *testing.T, rl *nostr.Relay, providerSK, buyerSK string, paid uint64) nostr.Event {
	t.Helper()
	providerPK, _ := nostr.GetPublicKey(providerSK)
	buyerPK, _ := nostr.GetPublicKey(buyerSK)
	seq := fmt.Sprintf("%064x", time.Now().UnixNano())
	r := nips.Receipt{Session: seq, Match: seq, Buyer: buyerPK, Resource: nips.Bandwidth, Delivered: 100, Paid: paid,
		Payment: nips.Payment{Method: nips.PayCashu, Mint: nipstest.Mint, Unit: "sat"}}
	evt := r.ToEvent(nostr.Now())
	evt.PubKey = providerPK
	sig, err := nips.Countersign(&evt, buyerSK)
	if err != nil {
		t.Fatal(err)
	}
	r.Countersig = sig
	return publish(t, rl, r.ToEvent(evt.CreatedAt), providerSK)
}

// bookTrust reads a provider's trust rank from the marketplace's /api/book.
func bookTrust(t *testing.T, e *env, provider string) (int, bool) {
	t.Helper()
	var book struct {
		Offers []struct {
			Provider string `json:"provider"`
			Trust    int    `json:"trust"`
		} `json:"offers"`
	}
	if code := get(t, e.HTTP+"/api/book?resource=bandwidth&limit=1000", "", &book); code != 200 {
		t.Fatalf("GET /api/book: %d", code)
	}
	for _, o := range book.Offers {
		if o.Provider == provider {
			return o.Trust, true
		}
	}
	return 0, false
}

// storeTrust is the relay's view of trust computed by market.TrustGraph from
// the stored receipts and attestations, with the relay's key and seeds as
// seeds, as the marketplace computes it (which exports no getter yet).
func (e *env) storeTrust(t *testing.T, seeds []string) web.TrustFunc {
	return func(pk string) (int, bool) {
		g := market.NewTrustGraph()
		ch, err := e.Store().QueryEvents(context.Background(), nostr.Filter{Kinds: []int{nips.KindReceipt, nips.KindAttestation}})
		if err != nil {
			t.Error(err)
			return 0, false
		}
		for evt := range ch {
			_, _ = g.Apply(evt)
		}
		s := g.Compute(append([]string{e.PublicKey()}, seeds...), time.Now(), market.DefaultTrustParams())
		return s.Rank(pk), s.Known(pk)
	}
}
