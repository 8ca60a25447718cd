package nwc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/elnosh/gonuts/mint/lightning"
	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip04"
	"github.com/nbd-wtf/go-nostr/nip44"

	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/bolt11"
	"github.com/sovmesh/sovmesh/market/pay/budget"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/nwc"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// TestErrorCodes: every NIP-47 error code matches its own sentinel, and only
// it, through errors.Is (also wrapped); unknown codes match ErrOther.
func TestErrorCodes(t *testing.T) {
	sentinels := []error{
		nwc.ErrRateLimited, nwc.ErrNotImplemented, nwc.ErrInsufficientBalance, nwc.ErrQuotaExceeded,
		nwc.ErrRestricted, nwc.ErrUnauthorized, nwc.ErrInternal, nwc.ErrOther, nwc.ErrPaymentFailed,
		nwc.ErrNotFound, nwc.ErrUnsupportedEncryption, nwc.ErrTimeout, nwc.ErrBadURI,
	}
	tests := []struct {
		name, code string
		want       error
	}{
		{"RATE_LIMITED", "RATE_LIMITED", nwc.ErrRateLimited},
		{"NOT_IMPLEMENTED", "NOT_IMPLEMENTED", nwc.ErrNotImplemented},
		{"INSUFFICIENT_BALANCE", "INSUFFICIENT_BALANCE", nwc.ErrInsufficientBalance},
		{"QUOTA_EXCEEDED", "QUOTA_EXCEEDED", nwc.ErrQuotaExceeded},
		{"RESTRICTED", "RESTRICTED", nwc.ErrRestricted},
		{"UNAUTHORIZED", "UNAUTHORIZED", nwc.ErrUnauthorized},
		{"INTERNAL", "INTERNAL", nwc.ErrInternal},
		{"UNSUPPORTED_ENCRYPTION", "UNSUPPORTED_ENCRYPTION", nwc.ErrUnsupportedEncryption},
		{"OTHER", "OTHER", nwc.ErrOther},
		{"PAYMENT_FAILED", "PAYMENT_FAILED", nwc.ErrPaymentFailed},
		{"NOT_FOUND", "NOT_FOUND", nwc.ErrNotFound},
		{"unknown code", "SOMETHING_NEW", nwc.ErrOther},
		{"lower case", "not_found", nwc.ErrOther},
		{"empty code", "", nwc.ErrOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fmt.Errorf("pay: %w", &nwc.Error{Code: tt.code, Message: "m"})
			if !errors.Is(err, tt.want) {
				t.Fatalf("%v is not %v", err, tt.want)
			}
			for _, s := range sentinels {
				if s != tt.want && errors.Is(err, s) {
					t.Fatalf("%v also matches %v", err, s)
				}
			}
			var e *nwc.Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Fatalf("errors.As: %+v", e)
			}
		})
	}
}

const authKind = 30078 // budget authorization kind, as in the budget tests

// rawRequest publishes a request event signed with secret, with tags after
// the p tag, and returns the wallet service's response.
func rawRequest(t *testing.T, relay, walletPub, secret string, tags nostr.Tags, content string) *nostr.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req := nostr.Event{Kind: nwc.KindRequest, CreatedAt: nostr.Now(), Content: content,
		Tags: append(nostr.Tags{{"p", walletPub}}, tags...)}
	if err := req.Sign(secret); err != nil {
		t.Fatal(err)
	}
	r, err := nostr.RelayConnect(ctx, relay)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sub, err := r.Subscribe(ctx, nostr.Filters{{Kinds: []int{nwc.KindResponse}, Authors: []string{walletPub},
		Tags: nostr.TagMap{"e": []string{req.ID}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsub()
	select {
	case <-sub.EndOfStoredEvents:
	case <-ctx.Done():
		t.Fatal("no EOSE")
	}
	if err := r.Publish(ctx, req); err != nil {
		t.Fatalf("publish: %v", err)
	}
	select {
	case ev := <-sub.Events:
		return ev
	case <-ctx.Done():
		t.Fatal("no response")
	}
	return nil
}

// TestServiceEncryption: the service answers UNSUPPORTED_ENCRYPTION to any
// scheme but nip44_v2, including a request with no encryption tag (NIP-04
// per NIP-47), in a scheme the client can read, and runs none of them.
func TestServiceEncryption(t *testing.T) {
	relay := relaytest.Start(t)
	m := paytest.StartMint(t)
	w := paytest.Wallet(t, nil, m.URL())
	svc, _, uri := startService(t, relay, w)
	const body = `{"method":"make_invoice","params":{"amount":5000,"description":"x"}}`

	tests := []struct {
		name     string
		stranger bool
		tags     nostr.Tags
		encrypt  string // scheme of the request content ("" for garbage)
		scheme   string // scheme the response must be in
		want     error
	}{
		{"unknown scheme", false, nostr.Tags{{"encryption", "nip99"}}, "nip44_v2", "nip44_v2", nwc.ErrUnsupportedEncryption},
		{"nip04 named", false, nostr.Tags{{"encryption", "nip04"}}, "nip04", "nip04", nwc.ErrUnsupportedEncryption},
		{"empty scheme", false, nostr.Tags{{"encryption", ""}}, "nip44_v2", "nip44_v2", nwc.ErrUnsupportedEncryption},
		{"tag without value", false, nostr.Tags{{"encryption"}}, "nip44_v2", "nip44_v2", nwc.ErrUnsupportedEncryption},
		{"no tag is nip04", false, nil, "nip04", "nip04", nwc.ErrUnsupportedEncryption},
		{"no tag from a stranger", true, nil, "nip04", "nip04", nwc.ErrUnauthorized},
		{"nip44_v2 undecryptable", false, nostr.Tags{{"encryption", nwc.Encryption}}, "", "nip44_v2", nwc.ErrOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := uri.Secret
			if tt.stranger {
				secret = nostr.GeneratePrivateKey()
			}
			ck, err := nip44.GenerateConversationKey(svc.Pubkey(), secret)
			if err != nil {
				t.Fatal(err)
			}
			shared, err := nip04.ComputeSharedSecret(svc.Pubkey(), secret)
			if err != nil {
				t.Fatal(err)
			}
			content := "not a payload"
			switch tt.encrypt {
			case "nip44_v2":
				content, err = nip44.Encrypt(body, ck)
			case "nip04":
				content, err = nip04.Encrypt(body, shared)
			}
			if err != nil {
				t.Fatal(err)
			}
			resp := rawRequest(t, relay, svc.Pubkey(), secret, tt.tags, content)
			if tag := resp.Tags.Find("encryption"); tag == nil || tag[1] != tt.scheme {
				t.Fatalf("response encryption tag %v, want %s", tag, tt.scheme)
			}
			var plain string
			if tt.scheme == "nip04" {
				plain, err = nip04.Decrypt(resp.Content, shared)
			} else {
				plain, err = nip44.Decrypt(resp.Content, ck)
			}
			if err != nil {
				t.Fatalf("response not readable in %s: %v", tt.scheme, err)
			}
			var r struct {
				Error  *nwc.Error      `json:"error"`
				Result json.RawMessage `json:"result"`
			}
			if err := json.Unmarshal([]byte(plain), &r); err != nil {
				t.Fatal(err)
			}
			if r.Error == nil || !errors.Is(r.Error, tt.want) || r.Result != nil {
				t.Fatalf("response %s, want %v", plain, tt.want)
			}
		})
	}
	if n := countOps(t, w, cashu.KindMint); n != 0 {
		t.Fatalf("%d refused requests ran make_invoice", n)
	}
}

// TestServiceErrors: each error code the service sends (besides
// UNAUTHORIZED, NOT_FOUND and INSUFFICIENT_BALANCE, in TestNWCOverRelay and
// TestNWCUnauthorizedAndTimeout, and UNSUPPORTED_ENCRYPTION, in
// TestServiceEncryption), over a real relay, as the client reports it.
func TestServiceErrors(t *testing.T) {
	relay := relaytest.Start(t)
	m := paytest.StartMint(t)

	t.Run("NOT_IMPLEMENTED", func(t *testing.T) {
		ctx := t.Context()
		w := paytest.Funded(t, 10, nil, m.URL())
		_, c, _ := startService(t, relay, w)
		if err := c.Call(ctx, "list_transactions", map[string]any{}, nil); !errors.Is(err, nwc.ErrNotImplemented) {
			t.Fatalf("unknown method: %v", err)
		}
		payee := paytest.Wallet(t, nil, m.URL())
		q, err := payee.RequestMint(ctx, "", 2)
		if err != nil {
			t.Fatal(err)
		}
		// The amount parameter (for amountless invoices) is not implemented.
		err = c.Call(ctx, "pay_invoice", map[string]any{"invoice": q.Invoice, "amount": 2_000}, nil)
		if !errors.Is(err, nwc.ErrNotImplemented) {
			t.Fatalf("pay_invoice with amount: %v", err)
		}
		if b, err := c.GetBalance(ctx); err != nil || b != 10_000 {
			t.Fatalf("balance %d %v", b, err)
		}
	})

	t.Run("OTHER", func(t *testing.T) {
		ctx := t.Context()
		w := paytest.Wallet(t, nil, m.URL())
		_, c, _ := startService(t, relay, w)
		if _, err := c.MakeInvoice(ctx, 1_500, "", 0); !errors.Is(err, nwc.ErrOther) {
			t.Fatalf("fraction of a sat: %v", err)
		}
		if err := c.Call(ctx, "make_invoice", map[string]any{}, nil); !errors.Is(err, nwc.ErrOther) {
			t.Fatalf("no amount: %v", err)
		}
		if err := c.Call(ctx, "pay_invoice", map[string]any{}, nil); !errors.Is(err, nwc.ErrOther) {
			t.Fatalf("no invoice: %v", err)
		}
		if err := c.Call(ctx, "pay_invoice", map[string]any{"invoice": "lntbs1garbage"}, nil); !errors.Is(err, nwc.ErrOther) {
			t.Fatalf("malformed invoice: %v", err)
		}
	})

	t.Run("QUOTA_EXCEEDED", func(t *testing.T) {
		ctx := t.Context()
		j := paytest.OpenJournal(t, t.TempDir())
		agentKey := paytest.NewKey(t)
		agentPub, err := nostr.GetPublicKey(agentKey)
		if err != nil {
			t.Fatal(err)
		}
		ownerKey := nostr.GeneratePrivateKey()
		ownerPub, err := nostr.GetPublicKey(ownerKey)
		if err != nil {
			t.Fatal(err)
		}
		guard := budget.NewGuard(j, agentPub, authKind, []string{ownerPub})
		cfg := cashu.DefaultConfig()
		cfg.Mints, cfg.PrivateKey, cfg.Budget = []string{m.URL()}, agentKey, guard
		w, err := cashu.Open(ctx, j, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Fund(ctx, 100); err != nil {
			t.Fatal(err)
		}
		_, c, _ := startService(t, relay, w)
		payee := paytest.Wallet(t, nil, m.URL())
		invoice := func(sats uint64) string {
			t.Helper()
			q, err := payee.RequestMint(ctx, "", sats)
			if err != nil {
				t.Fatal(err)
			}
			return q.Invoice
		}
		steps := []struct {
			name    string
			sats    uint64
			wantErr error
		}{
			{"no authorization", 5, nwc.ErrQuotaExceeded},
			{"within", 5, nil},
			{"over per day", 21, nwc.ErrQuotaExceeded},
		}
		for i, st := range steps {
			if i == 1 {
				ev, err := budget.Sign(ownerKey, authKind,
					budget.Authorization{Agent: agentPub, PerDay: 10, Expires: time.Now().Add(time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := guard.Add(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.PayInvoice(ctx, invoice(st.sats), "signet", bolt11.Expect{}); !errors.Is(err, st.wantErr) {
				t.Fatalf("%s: %v, want %v", st.name, err, st.wantErr)
			}
		}
		if b, err := c.GetBalance(ctx); err != nil || b != 95_000 {
			t.Fatalf("balance %d msat %v, want 95000", b, err)
		}
	})

	// The agent's local limits (agentd's state.Budget) refuse with their own
	// error; NIP-47 says QUOTA_EXCEEDED for it too, not PAYMENT_FAILED.
	t.Run("QUOTA_EXCEEDED local limits", func(t *testing.T) {
		ctx := t.Context()
		j := paytest.OpenJournal(t, t.TempDir())
		db, err := state.Open(ctx, filepath.Join(t.TempDir(), "agentd.db"), j.DB())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		cfg := cashu.DefaultConfig()
		cfg.Mints, cfg.PrivateKey = []string{m.URL()}, paytest.NewKey(t)
		cfg.Budget = &state.Budget{DB: db, PerDay: 10}
		w, err := cashu.Open(ctx, j, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Fund(ctx, 100); err != nil {
			t.Fatal(err)
		}
		_, c, _ := startService(t, relay, w)
		payee := paytest.Wallet(t, nil, m.URL())
		for _, st := range []struct {
			name    string
			sats    uint64
			wantErr error
		}{
			{"within", 5, nil},
			{"over per day", 6, nwc.ErrQuotaExceeded},
		} {
			q, err := payee.RequestMint(ctx, "", st.sats)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.PayInvoice(ctx, q.Invoice, "signet", bolt11.Expect{}); !errors.Is(err, st.wantErr) {
				t.Fatalf("%s: %v, want %v", st.name, err, st.wantErr)
			}
		}
		if b, err := c.GetBalance(ctx); err != nil || b != 95_000 {
			t.Fatalf("balance %d msat %v, want 95000", b, err)
		}
	})

	t.Run("PAYMENT_FAILED", func(t *testing.T) {
		ctx := t.Context()
		w := paytest.Funded(t, 100, nil, m.URL())
		_, c, _ := startService(t, relay, w)
		// An invoice of no node the mint knows, which its fake Lightning
		// backend fails to pay.
		inv, _, _, err := lightning.CreateFakeInvoice(21, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.PayInvoice(ctx, inv, "signet", bolt11.Expect{AmountMsat: 21_000}); !errors.Is(err, nwc.ErrPaymentFailed) {
			t.Fatalf("unpayable invoice: %v", err)
		}
		if b, err := c.GetBalance(ctx); err != nil || b != 100_000 {
			t.Fatalf("balance after the failed payment %d msat %v, want 100000", b, err)
		}
	})

	t.Run("INTERNAL", func(t *testing.T) {
		ctx := t.Context()
		p := paytest.StartProxy(t, m.URL())
		w := paytest.Wallet(t, nil, p.URL)
		_, c, _ := startService(t, relay, w)
		inv, err := c.MakeInvoice(ctx, 2_000, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		p.SetDown(true) // the mint is unreachable
		if _, err := c.LookupInvoice(ctx, inv.PaymentHash); !errors.Is(err, nwc.ErrInternal) {
			t.Fatalf("lookup_invoice, mint down: %v", err)
		}
		if _, err := c.MakeInvoice(ctx, 2_000, "", 0); !errors.Is(err, nwc.ErrInternal) {
			t.Fatalf("make_invoice, mint down: %v", err)
		}
		p.SetDown(false)
		if got, err := c.LookupInvoice(ctx, inv.PaymentHash); err != nil || got.State != "settled" {
			t.Fatalf("lookup_invoice, mint back: %+v %v", got, err)
		}
	})
}
