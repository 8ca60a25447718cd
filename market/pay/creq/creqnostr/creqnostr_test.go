package creqnostr_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/creq"
	"github.com/sovmesh/sovmesh/market/pay/creq/creqnostr"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// TestNostrTransport: a payee's request names a nostr transport (nprofile on
// a real relay, NIP-17); the payer pays and delivers the payload as a gift
// wrapped DM; the payee's receiver redeems it.
func TestNostrTransport(t *testing.T) {
	relay := relaytest.Start(t)
	m := paytest.StartMint(t)
	ctx := t.Context()
	payeeKey := nostr.GeneratePrivateKey()
	payeePub, _ := nostr.GetPublicKey(payeeKey)
	payee := paytest.WalletAt(t, t.TempDir(), payeeKey, nil, m.URL())
	payerKey := nostr.GeneratePrivateKey()
	payer := paytest.WalletAt(t, t.TempDir(), payerKey, nil, m.URL())
	if err := payer.Fund(ctx, 50); err != nil {
		t.Fatal(err)
	}
	tr, err := creqnostr.Transport(payeePub, []string{relay})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	rcv := &creqnostr.Receiver{SecretKey: payeeKey, Relays: []string{relay},
		Handle: func(ctx context.Context, from string, p creq.Payload) error {
			_, err := payee.ReceiveRequest(ctx, p, cashu.ReceiveOptions{Counterparty: from})
			if err == nil {
				got <- from
			}
			return err
		}}
	rctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- rcv.Run(rctx, ready) }()
	defer func() { cancel(); <-done }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("receiver: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("receiver not ready")
	}

	req, err := payee.NewRequest(ctx, cashu.RequestOptions{Amount: 21, Lock: true, Transports: []creq.Transport{tr}})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := req.Encode()
	if err != nil {
		t.Fatal(err)
	}
	req, err = creq.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := payer.PayRequest(ctx, req, cashu.PayRequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := creqnostr.Deliver(ctx, payerKey, req, p); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	select {
	case from := <-got:
		if want, _ := nostr.GetPublicKey(payerKey); from != want {
			t.Fatalf("from %s, want the payer", from)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("payload not received")
	}
	if paid, _ := payee.RequestPaid(ctx, req.ID); paid != 21 {
		t.Fatalf("paid %d", paid)
	}

	// Bad transports.
	for _, tt := range []struct {
		name string
		req  creq.Request
		want error
	}{
		{"no nostr", creq.Request{Transports: []creq.Transport{{Type: creq.TransportPost, Target: "http://x"}}}, creqnostr.ErrNoNostr},
		{"nip-04 only", creq.Request{Transports: []creq.Transport{{Type: creq.TransportNostr, Target: tr.Target, Tags: [][]string{{"n", "04"}}}}}, creqnostr.ErrNoNostr},
		{"npub", creq.Request{Transports: []creq.Transport{{Type: creq.TransportNostr, Target: "npub1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq28spj3"}}}, creqnostr.ErrBadTarget},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := creqnostr.Deliver(ctx, payerKey, tt.req, p); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}
