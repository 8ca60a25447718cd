package devmint

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/sovmesh/sovmesh/market/pay/bolt11"
)

// quoteFields completes gonuts' NUT-04 mint quote answers (POST
// /v1/mint/quote/bolt11 and GET /v1/mint/quote/bolt11/{quote}) with the
// "amount" and "unit" fields NUT-04 and NUT-23 define and gonuts v0.4.2 leaves
// out (cashu-ts 4.x refuses a quote without them), and NUT-05 melt quote
// answers with their "unit". The amount is the quote's invoice amount; the
// dev mint has one unit, sat. Other answers pass through untouched.
func quoteFields(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mintQuote := strings.HasPrefix(r.URL.Path, "/v1/mint/quote/bolt11")
		meltQuote := strings.HasPrefix(r.URL.Path, "/v1/melt/quote/bolt11")
		if !mintQuote && !meltQuote {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: make(http.Header), status: http.StatusOK}
		next.ServeHTTP(rec, r)
		body := rec.body.Bytes()
		if rec.status == http.StatusOK {
			body = completeQuote(body, mintQuote)
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.status)
		_, _ = w.Write(body)
	})
}

// completeQuote adds the missing fields to one quote answer, or returns it
// unchanged if it is not a JSON object.
func completeQuote(body []byte, mintQuote bool) []byte {
	var q map[string]json.RawMessage
	if json.Unmarshal(body, &q) != nil || q == nil {
		return body
	}
	changed := false
	if _, ok := q["unit"]; !ok {
		q["unit"] = json.RawMessage(`"sat"`)
		changed = true
	}
	if _, ok := q["amount"]; !ok && mintQuote {
		var req string
		if json.Unmarshal(q["request"], &req) == nil {
			if inv, err := bolt11.DecodeAny(req); err == nil && inv.AmountMsat > 0 {
				q["amount"] = json.RawMessage(strconv.FormatUint(inv.AmountMsat/1000, 10))
				changed = true
			}
		}
	}
	if !changed {
		return body
	}
	out, err := json.Marshal(q)
	if err != nil {
		return body
	}
	return out
}

// recorder keeps a handler's answer so it can be completed.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(status int)      { r.status = status }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
