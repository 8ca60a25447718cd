package nut24_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/internal/paytest"
	"github.com/sovmesh/sovmesh/market/pay/nut24"
)

// FuzzXCashu: whatever a client puts in X-Cashu, the paywall answers it
// with a 4xx or 503 and never serves the request without a payment.
func FuzzXCashu(f *testing.F) {
	f.Add("cashuBo2FteBxodHRwOi8vMTI3LjAuMC4xOjMzMzhhdWNzYXRhdIGiYWlIAJb8aKR9cEdhcIGjYWEEYXN4QDdkNmI")
	f.Add("cashuAeyJ0b2tlbiI6W3sibWludCI6Imh0dHA6Ly8xMjcuMC4wLjE6MSIsInByb29mcyI6W119XX0")
	f.Add("cashuB")
	f.Add("creqApWF0gaNhdGVub3N0cg")
	f.Add("  \t")
	w := paytest.Wallet(f, nil, "http://127.0.0.1:1") // no mint there: a redeem cannot succeed
	var served atomic.Int64
	h := (&nut24.Server{Wallet: w, Price: func(*http.Request) uint64 { return 3 }}).Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		served.Add(1)
	}))
	f.Fuzz(func(t *testing.T, hdr string) {
		req := httptest.NewRequest(http.MethodGet, "/blob", nil)
		req.Header[nut24.Header] = []string{hdr}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusPaymentRequired, http.StatusBadRequest, http.StatusServiceUnavailable:
		default:
			t.Fatalf("X-Cashu %q: HTTP %d", hdr, rec.Code)
		}
		if rec.Code != http.StatusPaymentRequired && rec.Header().Get("X-Reason") == "" {
			t.Fatalf("refusal without X-Reason")
		}
		if served.Load() != 0 {
			t.Fatalf("served without payment for X-Cashu %q", hdr)
		}
	})
}
