package nwc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip04"
	"github.com/nbd-wtf/go-nostr/nip44"

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
