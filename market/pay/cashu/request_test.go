package cashu_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/creq"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

// roundTrip sends a request and a payload through their wire forms.
func roundTrip(t *testing.T, r creq.Request) creq.Request {
	t.Helper()
	s, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := creq.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func wire(t *testing.T, p creq.Payload) creq.Payload {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var got creq.Payload
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPaymentRequest(t *testing.T) {
	m := paytest.StartMint(t)
	other := paytest.StartMint(t)
	ctx := t.Context()
	payer := paytest.Funded(t, 200, nil, m.URL())
	payee := paytest.Wallet(t, nil, m.URL())

	// A single-use request for 21 sat, locked to the payee.
	req, err := payee.NewRequest(ctx, cashu.RequestOptions{Amount: 21, Description: "1 GiB-day", SingleUse: true, Lock: true})
	if err != nil {
		t.Fatal(err)
	}
	req = roundTrip(t, req)
	if req.NUT10 == nil || req.NUT10.Kind != creq.KindP2PK || req.Mints[0] != m.URL() {
		t.Fatalf("request %+v", req)
	}
	p, sent, err := payer.PayRequest(ctx, req, cashu.PayRequestOptions{Max: 50})
	if err != nil {
		t.Fatalf("pay: %v", err)
	}
	if sent.Amount != 21 || p.ID != req.ID || p.Mint != m.URL() {
		t.Fatalf("payload %+v sent %+v", p, sent)
	}
	rec, err := payee.ReceiveRequest(ctx, wire(t, p), cashu.ReceiveOptions{})
	if err != nil || rec.Amount != 21 {
		t.Fatalf("receive: %+v %v", rec, err)
	}
	if paid, _ := payee.RequestPaid(ctx, req.ID); paid != 21 {
		t.Fatalf("paid %d", paid)
	}
	if b := balance(t, payee); b != 21 {
		t.Fatalf("payee balance %d", b)
	}
	// Paid again: refused before the mint is asked; the payer reclaims
	// after the lock (not tested here: 24 h).
	p2, _, err := payer.PayRequest(ctx, req, cashu.PayRequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := payee.ReceiveRequest(ctx, wire(t, p2), cashu.ReceiveOptions{}); !errors.Is(err, cashu.ErrRequestPaid) {
		t.Fatalf("second payment of a single-use request: %v", err)
	}

	// A reusable, unlocked request with no amount: the payer chooses.
	open, err := payee.NewRequest(ctx, cashu.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		p, _, err := payer.PayRequest(ctx, roundTrip(t, open), cashu.PayRequestOptions{Amount: 5})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := payee.ReceiveRequest(ctx, wire(t, p), cashu.ReceiveOptions{}); err != nil {
			t.Fatalf("reusable request: %v", err)
		}
	}
	if paid, _ := payee.RequestPaid(ctx, open.ID); paid != 10 {
		t.Fatalf("reusable paid %d", paid)
	}

	// The payer's checks, none of which spends anything.
	before := balance(t, payer)
	htlc := creq.Request{ID: "x", Amount: 3, Unit: "sat", NUT10: &creq.NUT10Option{Kind: creq.KindHTLC, Data: "00"}}
	multi := creq.Request{ID: "x", Amount: 3, Unit: "sat", NUT10: &creq.NUT10Option{Kind: creq.KindP2PK, Data: "02" + payee.PublicKey(),
		Tags: [][]string{{"n_sigs", "2"}}}}
	past := creq.Request{ID: "x", Amount: 3, Unit: "sat", NUT10: &creq.NUT10Option{Kind: creq.KindP2PK, Data: "02" + payee.PublicKey(),
		Tags: [][]string{{"locktime", strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)}}}}
	tests := []struct {
		name string
		req  creq.Request
		opts cashu.PayRequestOptions
		want error
	}{
		{"usd", creq.Request{Amount: 3, Unit: "usd"}, cashu.PayRequestOptions{}, cashu.ErrWrongUnit},
		{"no amount", creq.Request{Unit: "sat"}, cashu.PayRequestOptions{}, cashu.ErrWrongAmount},
		{"other amount", creq.Request{Amount: 3, Unit: "sat"}, cashu.PayRequestOptions{Amount: 4}, cashu.ErrWrongAmount},
		{"over cap", creq.Request{Amount: 300, Unit: "sat"}, cashu.PayRequestOptions{Max: 100}, cashu.ErrWrongAmount},
		{"unknown mint", creq.Request{Amount: 3, Unit: "sat", Mints: []string{other.URL()}}, cashu.PayRequestOptions{}, cashu.ErrUnknownMint},
		{"htlc", htlc, cashu.PayRequestOptions{}, cashu.ErrUnsupportedLock},
		{"multisig", multi, cashu.PayRequestOptions{}, cashu.ErrUnsupportedLock},
		{"past locktime", past, cashu.PayRequestOptions{}, cashu.ErrUnsupportedLock},
		{"insufficient", creq.Request{Amount: 10_000, Unit: "sat"}, cashu.PayRequestOptions{}, cashu.ErrInsufficient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := payer.PayRequest(ctx, tt.req, tt.opts); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
	if got := balance(t, payer); got != before {
		t.Fatalf("refused requests moved money: %d -> %d", before, got)
	}

	// The payee's checks.
	locked, err := payee.NewRequest(ctx, cashu.RequestOptions{Amount: 4, Lock: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, plainSent, err := payer.PayRequest(ctx, creq.Request{ID: locked.ID, Amount: 4, Unit: "sat"}, cashu.PayRequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	small, _, err := payer.PayRequest(ctx, creq.Request{ID: locked.ID, Amount: 2, Unit: "sat"}, cashu.PayRequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unknown := plain
	unknown.ID = "ffffffffffffffff"
	otherMint := plain
	otherMint.Mint = other.URL()
	usd := plain
	usd.Unit = "usd"
	for _, tt := range []struct {
		name string
		p    creq.Payload
		want error
	}{
		{"not locked", plain, cashu.ErrNotLocked},
		{"unknown request", unknown, cashu.ErrUnknownRequest},
		{"other mint", otherMint, cashu.ErrUnknownMint},
		{"usd", usd, cashu.ErrWrongUnit},
	} {
		t.Run("payee "+tt.name, func(t *testing.T) {
			if _, err := payee.ReceiveRequest(ctx, tt.p, cashu.ReceiveOptions{}); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
	// Too small on an unlocked request.
	amt, _ := payee.NewRequest(ctx, cashu.RequestOptions{Amount: 4})
	small.ID = amt.ID
	if _, err := payee.ReceiveRequest(ctx, small, cashu.ReceiveOptions{}); !errors.Is(err, cashu.ErrWrongAmount) {
		t.Fatalf("too small: %v", err)
	}
	if b := balance(t, payee); b != 31 {
		t.Fatalf("payee balance %d, want 31", b)
	}
	// A refused (unlocked) payment is still the payer's: it comes back.
	if rc, err := payer.Reclaim(ctx, plainSent.OpID); err != nil || rc.Amount != 4 {
		t.Fatalf("reclaim refused payment: %+v %v", rc, err)
	}
}
