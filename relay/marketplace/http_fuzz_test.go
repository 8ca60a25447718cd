package marketplace

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzBookQuery: any query string gets 200 with an order-book view or 400
// with an error message, both JSON, and never a panic.
func FuzzBookQuery(f *testing.F) {
	for _, q := range []string{
		"resource=bandwidth", "resource=storage&ceiling=60&region=dr5&min_trust=50&sort=trust&limit=1",
		"resource=inference&limit=0", "resource=x", "ceiling=-1", "resource=bandwidth&min_trust=101",
		"resource=bandwidth&ceiling=18446744073709551616", "%zz", "resource=bandwidth&sort=size",
	} {
		f.Add(q)
	}
	m, err := New(DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest("GET", "/api/book", nil)
		req.URL.RawQuery = query
		w := httptest.NewRecorder()
		m.serveBook(w, req)
		switch w.Code {
		case http.StatusOK:
			var view struct {
				Offers []json.RawMessage `json:"offers"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &view); err != nil {
				t.Fatalf("200 with a body that is not a view: %v: %q", err, w.Body)
			}
		case http.StatusBadRequest:
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("400 without an error message: %q", w.Body)
			}
		default:
			t.Fatalf("status %d for %q", w.Code, query)
		}
	})
}
