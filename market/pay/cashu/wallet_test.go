package cashu_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
)

func balance(t *testing.T, w *cashu.Wallet) uint64 {
	t.Helper()
	b, err := w.Balance(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSendReceive(t *testing.T) {
	m := paytest.StartMint(t)
	a := paytest.Funded(t, 100, nil, m.URL())
	b := paytest.Wallet(t, nil, m.URL())
	ctx := t.Context()

	for _, amount := range []uint64{37, 4, 1} { // swap, exact, exact
		before := balance(t, a)
		sent, err := a.Send(ctx, amount, cashu.SendOptions{Counterparty: b.PublicKey()})
		if err != nil {
			t.Fatalf("send %d: %v", amount, err)
		}
		info, err := cashu.Inspect(sent.Token)
		if err != nil || info.Amount != amount {
			t.Fatalf("token amount %d, %v; want %d", info.Amount, err, amount)
		}
		rec, err := b.Receive(ctx, sent.Token, cashu.ReceiveOptions{Amount: amount})
		if err != nil {
			t.Fatalf("receive %d: %v", amount, err)
		}
		if rec.Amount != amount || rec.Offline {
			t.Fatalf("received %+v", rec)
		}
		if got := balance(t, a); got != before-amount {
			t.Fatalf("payer balance %d, want %d", got, before-amount)
		}
	}
	if got := balance(t, b); got != 42 {
		t.Fatalf("payee balance %d, want 42", got)
	}
	if _, err := a.Send(ctx, 1000, cashu.SendOptions{}); !errors.Is(err, cashu.ErrInsufficient) {
		t.Fatalf("overspend: %v, want ErrInsufficient", err)
	}
}

func TestReceiveRefusals(t *testing.T) {
	m := paytest.StartMint(t)
	other := paytest.StartMint(t)
	ctx := t.Context()
	a := paytest.Funded(t, 200, nil, m.URL())
	b := paytest.Wallet(t, nil, m.URL())
	c := paytest.Wallet(t, nil, m.URL())
	stranger := paytest.Funded(t, 10, nil, other.URL())

	send := func(n uint64) string {
		t.Helper()
		s, err := a.Send(ctx, n, cashu.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Token
	}
	spent := send(8)
	if _, err := b.Receive(ctx, spent, cashu.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	foreign, err := stranger.Send(ctx, 5, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		w     *cashu.Wallet
		token string
		opts  cashu.ReceiveOptions
		want  error
	}{
		{"double spend", c, spent, cashu.ReceiveOptions{}, cashu.ErrTokenSpent},
		{"replayed", b, spent, cashu.ReceiveOptions{}, cashu.ErrReplayed},
		{"wrong amount", b, send(3), cashu.ReceiveOptions{Amount: 5}, cashu.ErrWrongAmount},
		{"unknown mint", b, foreign.Token, cashu.ReceiveOptions{}, cashu.ErrUnknownMint},
		{"empty", b, "", cashu.ReceiveOptions{}, cashu.ErrMalformedToken},
		{"garbage", b, "cashuBnotbase64!!", cashu.ReceiveOptions{}, cashu.ErrMalformedToken},
		{"truncated", b, spent[:len(spent)/2], cashu.ReceiveOptions{}, cashu.ErrMalformedToken},
		{"not a token", b, "lnbc1...", cashu.ReceiveOptions{}, cashu.ErrMalformedToken},
		{"huge", b, "cashuB" + strings.Repeat("A", cashu.MaxTokenLen), cashu.ReceiveOptions{}, cashu.ErrMalformedToken},
		{"forged signature", b, forge(t, send(4)), cashu.ReceiveOptions{}, cashu.ErrMalformedToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := balance(t, tt.w)
			_, err := tt.w.Receive(ctx, tt.token, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got := balance(t, tt.w); got != before {
				t.Fatalf("balance moved %d -> %d on a refused token", before, got)
			}
			if strings.Contains(err.Error(), "cashuA") || strings.Contains(err.Error(), "cashuB") {
				t.Fatalf("error leaks a token: %v", err)
			}
		})
	}
	// The refused wrong-amount token was not consumed: the right receiver still gets it.
	tok := send(2)
	if _, err := b.Receive(ctx, tok, cashu.ReceiveOptions{Amount: 3}); !errors.Is(err, cashu.ErrWrongAmount) {
		t.Fatal(err)
	}
	if _, err := b.Receive(ctx, tok, cashu.ReceiveOptions{Amount: 2}); err != nil {
		t.Fatalf("token refused for amount must stay redeemable: %v", err)
	}
}

func TestEscrow(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	noMargin := func(c *cashu.Config) { c.LockMargin = 0 }
	payer := paytest.Funded(t, 64, noMargin, m.URL())
	payee := paytest.Wallet(t, noMargin, m.URL())
	thief := paytest.Wallet(t, noMargin, m.URL())

	// Delivered: the payee redeems before the locktime.
	lock := &cashu.Lock{Pubkey: payee.PublicKey(), Locktime: time.Now().Add(time.Hour).Unix()}
	s1, err := payer.Send(ctx, 10, cashu.SendOptions{Lock: lock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := thief.Receive(ctx, s1.Token, cashu.ReceiveOptions{}); !errors.Is(err, cashu.ErrLockedToOther) {
		t.Fatalf("thief: %v, want ErrLockedToOther", err)
	}
	if _, err := payer.Reclaim(ctx, s1.OpID); !errors.Is(err, cashu.ErrStillLocked) {
		t.Fatalf("early reclaim: %v, want ErrStillLocked", err)
	}
	if _, err := payee.Receive(ctx, s1.Token, cashu.ReceiveOptions{}); err != nil {
		t.Fatalf("payee: %v", err)
	}

	// Refunded: the session never happens; after the locktime the payer takes it back.
	lock = &cashu.Lock{Pubkey: payee.PublicKey(), Locktime: time.Now().Add(1500 * time.Millisecond).Unix()}
	s2, err := payer.Send(ctx, 20, cashu.SendOptions{Lock: lock})
	if err != nil {
		t.Fatal(err)
	}
	if got := balance(t, payer); got != 34 {
		t.Fatalf("payer balance %d, want 34", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Unix() <= lock.Locktime+1 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	r, err := payer.Reclaim(ctx, s2.OpID)
	if err != nil || r.Amount != 20 || r.Redeemed {
		t.Fatalf("reclaim: %+v, %v", r, err)
	}
	if got := balance(t, payer); got != 54 {
		t.Fatalf("payer balance after refund %d, want 54", got)
	}
	// The redeemed one reports redeemed.
	if _, err := payer.Reclaim(ctx, s1.OpID); err != nil && !errors.Is(err, cashu.ErrStillLocked) {
		t.Fatalf("reclaim redeemed: %v", err)
	}
}

func TestReclaimUnredeemed(t *testing.T) {
	m := paytest.StartMint(t)
	ctx := t.Context()
	a := paytest.Funded(t, 50, nil, m.URL())
	b := paytest.Wallet(t, nil, m.URL())
	s, err := a.Send(ctx, 13, cashu.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Reclaim(ctx, s.OpID)
	if err != nil || r.Amount != 13 {
		t.Fatalf("reclaim %+v %v", r, err)
	}
	if got := balance(t, a); got != 50 {
		t.Fatalf("balance %d, want 50", got)
	}
	if _, err := b.Receive(ctx, s.Token, cashu.ReceiveOptions{}); !errors.Is(err, cashu.ErrTokenSpent) {
		t.Fatalf("reclaimed token must be spent for the payee: %v", err)
	}
	s2, _ := a.Send(ctx, 7, cashu.SendOptions{})
	if _, err := b.Receive(ctx, s2.Token, cashu.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err = a.Reclaim(ctx, s2.OpID)
	if err != nil || !r.Redeemed || r.Amount != 0 {
		t.Fatalf("reclaim of redeemed token: %+v %v", r, err)
	}
	_ = context.Background
}
