package provider

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sovmesh/sovmesh/nips"
)

// FuzzRoutstrRequest: no request body or Authorization header crashes the
// Routstr endpoint's parsing, and an accepted request names a served model
// and prices at least its completion.
func FuzzRoutstrRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":10,"stream":true}`), "Bearer cashuBxyz")
	f.Add([]byte(`{"model":"m","messages":[],"max_tokens":null}`), "Bearer sk-1")
	f.Add([]byte(`{"model":"m","messages":[1],"max_tokens":18446744073709551615}`), "")
	f.Add([]byte(`[]`), "Bearer ")
	prices := nips.Prices{{Unit: nips.UnitMInputTokens, Msat: 1_000_000}, {Unit: nips.UnitMOutputTokens, Msat: 2_000_000}}
	f.Fuzz(func(t *testing.T, body []byte, auth string) {
		q, err := parseRoutstrRequest(body, []string{"m"}, prices)
		if err == nil && (q.model != "m" || q.maxMsat == 0) {
			t.Fatalf("accepted %q: model %q, max %d msat", body, q.model, q.maxMsat)
		}
		r, _ := http.NewRequest(http.MethodPost, "http://x/", nil)
		r.Header.Set("Authorization", auth)
		if tok, ok := routstrToken(r); ok && tok != "" && tok[:5] != "cashu" {
			t.Fatalf("token %q from %q", tok, auth)
		}
	})
}

// TestRoutstrBusy: a paid request beyond what the endpoint serves at once
// gets 429 with Retry-After, before its token is looked at.
func TestRoutstrBusy(t *testing.T) {
	rs := &routstrServer{busy: make(chan struct{}, 1)}
	rs.busy <- struct{}{}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(`{}`))
	r.Header.Set("X-Cashu", "cashuBxyz")
	rs.chat(w, r)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "rate_limited") {
		t.Fatalf("%d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
}
