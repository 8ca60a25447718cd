package cashu

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/sovmesh/sovmesh/market/pay/creq"
)

// RequestHandler is the payee's end of the NUT-18 post transport: it takes
// a JSON payment payload (POST) for a request this wallet issued and
// receives it (ReceiveRequest). It answers 200 with {"amount": sats}, 400
// for a payload it refuses (the payer keeps its ecash), 503 when the mint
// cannot be reached or the outcome is pending.
func RequestHandler(w *Wallet, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(rw, "POST a NUT-18 payment payload", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, creq.MaxPayloadLen+1))
		if err != nil {
			http.Error(rw, "cannot read the payload", http.StatusBadRequest)
			return
		}
		p, err := creq.DecodePayload(body)
		if err != nil {
			http.Error(rw, "malformed payment payload", http.StatusBadRequest)
			return
		}
		rec, err := w.ReceiveRequest(r.Context(), p, ReceiveOptions{})
		if err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, ErrMintUnreachable) || errors.Is(err, ErrPending) {
				status = http.StatusServiceUnavailable
			}
			log.Info("payment request payload refused", "request", truncate(p.ID, 64), "err", err)
			http.Error(rw, refusal(err), status)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(map[string]uint64{"amount": rec.Amount})
	})
}

// refusal is the short reason given to a payer (no internals).
func refusal(err error) string {
	for _, e := range []error{ErrUnknownRequest, ErrRequestPaid, ErrWrongUnit, ErrUnknownMint, ErrWrongAmount,
		ErrNotLocked, ErrLockedToOther, ErrTokenSpent, ErrReplayed, ErrMalformedToken, ErrMintUnreachable, ErrPending} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "payment refused"
}
