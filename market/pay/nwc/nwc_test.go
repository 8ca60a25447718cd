package nwc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/bolt11"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/nwc"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// startService runs an NWC service for w on relay and returns a connected client.
func startService(t *testing.T, relay string, w *cashu.Wallet) (*nwc.Service, *nwc.Client, nwc.URI) {
	t.Helper()
	svc, err := nwc.NewService(w, nwc.ServiceConfig{SecretKey: nostr.GeneratePrivateKey(), Relay: relay, Network: "signet", Alias: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, ready) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("service: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("service not ready")
	}
	uri, err := svc.NewConnection(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := nwc.ParseURI(uri.String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := nwc.Connect(t.Context(), parsed, nwc.ClientOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return svc, c, parsed
}

func TestNWCOverRelay(t *testing.T) {
	relay := relaytest.Start(t)
	m := paytest.StartMint(t)
	ctx := t.Context()
	alice := paytest.Funded(t, 100, nil, m.URL())
	bob := paytest.Wallet(t, nil, m.URL())
	_, ac, _ := startService(t, relay, alice)
	_, bc, _ := startService(t, relay, bob)

	info, err := ac.GetInfo(ctx)
	if err != nil || info.Network != "signet" || len(info.Methods) != 5 {
		t.Fatalf("get_info %+v %v", info, err)
	}
	if bal, err := ac.GetBalance(ctx); err != nil || bal != 100_000 {
		t.Fatalf("get_balance %d %v", bal, err)
	}
	inv, err := bc.MakeInvoice(ctx, 21_000, "bandwidth", 0)
	if err != nil || inv.Invoice == "" || inv.State != "pending" {
		t.Fatalf("make_invoice %+v %v", inv, err)
	}
	// Checks before paying.
	if _, err := ac.PayInvoice(ctx, inv.Invoice, "signet", bolt11.Expect{AmountMsat: 20_000}); !errors.Is(err, bolt11.ErrWrongAmount) {
		t.Fatalf("wrong amount: %v", err)
	}
	if _, err := ac.PayInvoice(ctx, inv.Invoice, "bitcoin", bolt11.Expect{}); !errors.Is(err, bolt11.ErrWrongNetwork) {
		t.Fatalf("wrong network: %v", err)
	}
	res, err := ac.PayInvoice(ctx, inv.Invoice, "signet", bolt11.Expect{AmountMsat: 21_000})
	if err != nil {
		t.Fatalf("pay_invoice: %v", err)
	}
	if len(res.Preimage) != 64 {
		t.Fatalf("preimage %q", res.Preimage)
	}
	got, err := bc.LookupInvoice(ctx, inv.PaymentHash)
	if err != nil || got.State != "settled" {
		t.Fatalf("lookup_invoice %+v %v", got, err)
	}
	if bal, _ := bc.GetBalance(ctx); bal != 21_000 {
		t.Fatalf("payee balance %d msat", bal)
	}
	if _, err := bc.LookupInvoice(ctx, strings.Repeat("00", 32)); !errors.Is(err, nwc.ErrNotFound) {
		t.Fatalf("unknown invoice: %v", err)
	}
	// Over balance.
	big, _ := bc.MakeInvoice(ctx, 1_000_000, "", 0)
	if _, err := ac.PayInvoice(ctx, big.Invoice, "signet", bolt11.Expect{}); !errors.Is(err, nwc.ErrInsufficientBalance) {
		t.Fatalf("insufficient: %v", err)
	}
}

func TestNWCUnauthorizedAndTimeout(t *testing.T) {
	relay := relaytest.Start(t)
	m := paytest.StartMint(t)
	w := paytest.Wallet(t, nil, m.URL())
	svc, _, uri := startService(t, relay, w)
	// A key the service never authorized.
	stranger := uri
	stranger.Secret = nostr.GeneratePrivateKey()
	c, err := nwc.Connect(t.Context(), stranger, nwc.ClientOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GetBalance(t.Context()); !errors.Is(err, nwc.ErrUnauthorized) {
		t.Fatalf("stranger: %v", err)
	}
	// Nobody answers for an unknown wallet pubkey: timeout.
	ghost := uri
	ghost.WalletPubkey = strings.Repeat("ab", 32)
	g, err := nwc.Connect(t.Context(), ghost, nwc.ClientOptions{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.GetInfo(t.Context()); !errors.Is(err, nwc.ErrTimeout) {
		t.Fatalf("ghost: %v", err)
	}
	_ = svc
}

func TestParseURI(t *testing.T) {
	pk := strings.Repeat("ab", 32)
	sk := strings.Repeat("01", 32)
	tests := []struct {
		name, uri string
		ok        bool
	}{
		{"valid", "nostr+walletconnect://" + pk + "?relay=wss%3A%2F%2Frelay.example&secret=" + sk, true},
		{"no secret", "nostr+walletconnect://" + pk + "?relay=wss://r", false},
		{"no relay", "nostr+walletconnect://" + pk + "?secret=" + sk, false},
		{"bad scheme", "https://" + pk + "?relay=wss://r&secret=" + sk, false},
		{"bad relay", "nostr+walletconnect://" + pk + "?relay=http://r&secret=" + sk, false},
		{"short key", "nostr+walletconnect://abcd?relay=wss://r&secret=" + sk, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := nwc.ParseURI(tt.uri)
			if (err == nil) != tt.ok {
				t.Fatalf("err %v", err)
			}
			if err != nil && strings.Contains(err.Error(), sk) {
				t.Fatal("error leaks the secret")
			}
			if tt.ok && strings.Contains(u.Redacted(), sk) {
				t.Fatal("Redacted leaks the secret")
			}
		})
	}
}
