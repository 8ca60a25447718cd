package logsafety_test

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	gcashu "github.com/elnosh/gonuts/cashu"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/sovmesh/sovmesh/internal/syncbuf"
	"github.com/sovmesh/sovmesh/market/pay/bolt11"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/nut24"
	"github.com/sovmesh/sovmesh/market/pay/nut24/nut24test"
	"github.com/sovmesh/sovmesh/market/pay/nwc"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// secrets collects what must never be logged.
type secrets struct {
	t      *testing.T
	values map[string]string // value -> what it is
	errs   []error
}

func (s *secrets) add(what string, vs ...string) {
	for _, v := range vs {
		if len(v) >= 16 {
			s.values[v] = what
		}
	}
}

// key records a private key in hex and as nsec.
func (s *secrets) key(what, hexKey string) {
	s.add(what, hexKey)
	if nsec, err := nip19.EncodePrivateKey(hexKey); err == nil {
		s.add(what+" (nsec)", nsec)
	}
}

// token records a token and the secrets of its proofs.
func (s *secrets) token(tok string) {
	s.add("token", tok)
	t, err := gcashu.DecodeToken(tok)
	if err != nil {
		s.t.Fatalf("decode own token: %v", err)
	}
	for _, p := range t.Proofs() {
		s.add("proof secret", p.Secret)
		if p.DLEQ != nil {
			s.add("blinding factor", p.DLEQ.R)
		}
	}
}

// err keeps an error to check its text too.
func (s *secrets) err(err error) {
	if err != nil {
		s.errs = append(s.errs, err)
	}
}

func pubOf(t *testing.T, skHex string) string {
	t.Helper()
	b, _ := hex.DecodeString(skHex)
	_, pk := btcec.PrivKeyFromBytes(b)
	return hex.EncodeToString(schnorr.SerializePubKey(pk))
}

func TestNoSecretsInLogs(t *testing.T) {
	var buf syncbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := t.Context()
	sec := &secrets{t: t, values: map[string]string{}}

	m, err := devmint.Start(ctx, t.TempDir(), devmint.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Shutdown(sctx)
	}()
	withLog := func(c *cashu.Config) { c.Logger = log }
	wallet := func(key string) *cashu.Wallet {
		sec.key("wallet key", key)
		return paytest.WalletAt(t, t.TempDir(), key, withLog, m.URL())
	}

	// cashu: fund, send and receive (swap and exact), escrow, refusals,
	// reclaim, Lightning out, payment requests, a crash and its resume.
	payerKey, payeeKey := paytest.NewKey(t), paytest.NewKey(t)
	payer, payee := wallet(payerKey), wallet(payeeKey)
	if err := payer.Fund(ctx, 400); err != nil {
		t.Fatal(err)
	}
	send := func(w *cashu.Wallet, n uint64, opts cashu.SendOptions) cashu.Sent {
		s, err := w.Send(ctx, n, opts)
		if err != nil {
			t.Fatal(err)
		}
		sec.token(s.Token)
		return s
	}
	for _, n := range []uint64{37, 4} {
		s := send(payer, n, cashu.SendOptions{})
		_, err := payee.Receive(ctx, s.Token, cashu.ReceiveOptions{})
		sec.err(err)
		_, err = payee.Receive(ctx, s.Token, cashu.ReceiveOptions{}) // replayed
		sec.err(err)
	}
	spent := send(payer, 5, cashu.SendOptions{})
	if _, err := payee.Receive(ctx, spent.Token, cashu.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	other := wallet(paytest.NewKey(t))
	_, err = other.Receive(ctx, spent.Token, cashu.ReceiveOptions{}) // spent at the mint
	sec.err(err)
	_, err = other.Receive(ctx, spent.Token[:len(spent.Token)-9]+"AAAAAAAAA", cashu.ReceiveOptions{})
	sec.err(err)
	locked := send(payer, 6, cashu.SendOptions{Lock: &cashu.Lock{Pubkey: payee.PublicKey(), Locktime: time.Now().Add(time.Hour).Unix()}})
	_, err = other.Receive(ctx, locked.Token, cashu.ReceiveOptions{}) // locked to another
	sec.err(err)
	_, err = payee.Receive(ctx, locked.Token, cashu.ReceiveOptions{})
	sec.err(err)
	unredeemed := send(payer, 3, cashu.SendOptions{})
	_, err = payer.Reclaim(ctx, unredeemed.OpID)
	sec.err(err)
	q, err := payee.RequestMint(ctx, "", 9)
	if err != nil {
		t.Fatal(err)
	}
	paid, err := payer.PayInvoice(ctx, q.Invoice, cashu.PayOptions{Network: "signet"})
	if err != nil {
		t.Fatal(err)
	}
	sec.add("preimage", paid.Preimage)
	_, err = payer.PayInvoice(ctx, q.Invoice, cashu.PayOptions{Network: "bitcoin"}) // wrong network
	sec.err(err)
	req, err := payee.NewRequest(ctx, cashu.RequestOptions{Amount: 7, Lock: true, SingleUse: true})
	if err != nil {
		t.Fatal(err)
	}
	payload, reqSent, err := payer.PayRequest(ctx, req, cashu.PayRequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sec.token(reqSent.Token)
	_, err = payee.ReceiveRequest(ctx, payload, cashu.ReceiveOptions{})
	sec.err(err)
	_, err = payee.ReceiveRequest(ctx, payload, cashu.ReceiveOptions{}) // paid already
	sec.err(err)

	crashDir, crashKey := t.TempDir(), paytest.NewKey(t)
	sec.key("wallet key", crashKey)
	crashing := paytest.WalletAt(t, crashDir, crashKey, func(c *cashu.Config) {
		c.Logger = log
		c.StepHook = func(step string) error {
			if step == "receive.swapped" {
				return errors.New("crash")
			}
			return nil
		}
	}, m.URL())
	lost := send(payer, 11, cashu.SendOptions{})
	_, err = crashing.Receive(ctx, lost.Token, cashu.ReceiveOptions{})
	sec.err(err)
	_ = crashing.Journal().Close()
	resumed := paytest.WalletAt(t, crashDir, crashKey, withLog, m.URL())
	_, err = resumed.Resume(ctx)
	sec.err(err)

	// fees: token, overpayment, replay, top-up, crash and resume.
	relayKey := paytest.NewKey(t)
	relayWallet := wallet(relayKey)
	col, err := fees.New(relayWallet.Journal(), relayWallet, fees.Config{Publication: map[int]uint64{30402: 3}}, log)
	if err != nil {
		t.Fatal(err)
	}
	sk := nostr.GeneratePrivateKey()
	sec.key("nostr key", sk)
	pk, _ := nostr.GetPublicKey(sk)
	event := func(tags nostr.Tags) *nostr.Event {
		ev := &nostr.Event{Kind: 30402, CreatedAt: nostr.Now(), Tags: tags, Content: nostr.GeneratePrivateKey()}
		if err := ev.Sign(sk); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	feeTok := send(payer, 5, cashu.SendOptions{})
	sec.err(col.Charge(ctx, event(nostr.Tags{{fees.TagName, feeTok.Token}}), ""))
	sec.err(col.Charge(ctx, event(nostr.Tags{{fees.TagName, feeTok.Token}}), "")) // replayed
	sec.err(col.Charge(ctx, event(nostr.Tags{{fees.TagName, "cashuBnotatoken"}}), ""))
	sec.err(col.Charge(ctx, event(nil), ""))
	topUpTok := send(payer, 4, cashu.SendOptions{})
	_, err = col.TopUp(ctx, pk, topUpTok.Token, "request-1")
	sec.err(err)
	_, err = col.TopUp(ctx, pk, topUpTok.Token, "request-2") // replayed
	sec.err(err)
	_, err = col.Resume(ctx)
	sec.err(err)

	// nwc: a service over a real relay; connections, invoices, payments,
	// an unauthorized client.
	relay := relaytest.Start(t)
	svcKey := nostr.GeneratePrivateKey()
	sec.key("nwc service key", svcKey)
	svc, err := nwc.NewService(payee, nwc.ServiceConfig{SecretKey: svcKey, Relay: relay, Network: "signet", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- svc.Run(sctx, ready) }()
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { cancel(); <-done }) }
	defer stop()
	<-ready
	uri, err := svc.NewConnection(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sec.add("nwc URI", uri.String())
	sec.key("nwc client secret", uri.Secret)
	c, err := nwc.Connect(ctx, uri, nwc.ClientOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	inv, err := c.MakeInvoice(ctx, 5_000, "x", 0)
	sec.err(err)
	q2, err := payer.RequestMint(ctx, "", 3)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.PayInvoice(ctx, q2.Invoice, "signet", bolt11.Expect{})
	sec.err(err)
	sec.add("preimage", res.Preimage)
	_, err = c.LookupInvoice(ctx, inv.PaymentHash)
	sec.err(err)
	_, err = c.PayInvoice(ctx, q2.Invoice, "signet", bolt11.Expect{}) // paid already
	sec.err(err)
	// nwc.Fund and nwc.Withdraw: ecash in from the service's wallet and
	// out to it, a withdrawal the wallet cannot cover, a fund the service
	// refuses (the dev mint pays its quote anyway: claimed, logged).
	move := nwc.MoveOptions{Network: "signet", Logger: log}
	_, err = nwc.Fund(ctx, payer, c, 4, move)
	sec.err(err)
	_, err = nwc.Withdraw(ctx, payer, c, 2, move)
	sec.err(err)
	_, err = nwc.Withdraw(ctx, payer, c, 1_000_000, move)
	sec.err(err)
	stranger := uri
	stranger.Secret = nostr.GeneratePrivateKey()
	sec.key("stranger secret", stranger.Secret)
	if sc, err := nwc.Connect(ctx, stranger, nwc.ClientOptions{Timeout: 5 * time.Second}); err == nil {
		_, err = sc.GetBalance(ctx)
		sec.err(err)
		_, err = nwc.Fund(ctx, payer, sc, 3, move)
		sec.err(err)
		sc.Close()
	}
	_, err = nwc.ParseURI(strings.Replace(uri.String(), "relay=", "relay=http%3A%2F%2F", 1))
	sec.err(err)
	stop()

	// NUT-24: a paid request, then the same token for another path (refused, logged).
	paywall := &nut24.Server{Wallet: payee, Logger: log, Price: func(*http.Request) uint64 { return 2 }}
	pts := httptest.NewServer(paywall.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	defer pts.Close()
	n24 := send(payer, 2, cashu.SendOptions{})
	for _, path := range []string{"/a", "/b"} {
		hr, _ := http.NewRequestWithContext(ctx, http.MethodGet, pts.URL+path, nil)
		hr.Header.Set(nut24.Header, n24.Token)
		if resp, err := pts.Client().Do(hr); err == nil {
			resp.Body.Close()
		}
	}
	nc := &nut24test.Client{Wallet: payer, HTTP: pts.Client(), Max: 1}
	hr, _ := http.NewRequestWithContext(ctx, http.MethodGet, pts.URL+"/c", nil)
	_, err = nc.Do(hr) // over the cap
	sec.err(err)

	out := buf.String()
	// The log is not empty: the packages did log.
	for _, want := range []string{"dev mint started", "payment op completed", "payment op failed", "payments resumed",
		"fee charged", "nwc connection created", "nut24 payment refused", "nwc paid mint quote", "mint quote paid although its payer refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("log has no %q line", want)
		}
	}
	check := func(where, text string) {
		for _, marker := range []string{"cashuA", "cashuB", "nostr+walletconnect", "nsec1"} {
			if strings.Contains(text, marker) {
				t.Errorf("%s contains %q: %.300s", where, marker, text[max(0, strings.Index(text, marker)-100):])
			}
		}
		for v, what := range sec.values {
			if strings.Contains(text, v) {
				t.Errorf("%s contains a %s", where, what)
			}
		}
	}
	check("log", out)
	for _, err := range sec.errs {
		check("error", err.Error())
	}
	if len(sec.values) < 50 || len(sec.errs) < 10 {
		t.Fatalf("only %d secrets and %d errors collected", len(sec.values), len(sec.errs))
	}
	t.Logf("%d log bytes, %d secrets, %d errors checked", len(out), len(sec.values), len(sec.errs))
}
