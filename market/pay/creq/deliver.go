package creq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Delivery errors.
var (
	// ErrInBand: the request names no transport; the payload goes back over
	// the channel the request came on.
	ErrInBand = errors.New("creq: request has no transport: deliver in band")
	// ErrNoTransport: none of the request's transports is supported here
	// (only post is; nostr delivery is the caller's).
	ErrNoTransport = errors.New("creq: no supported transport")
	// ErrRejected: the payee answered with an error status.
	ErrRejected = errors.New("creq: payee rejected the payment")
)

// Deliver sends p by the first of req's transports this package speaks
// (post: an HTTP POST of the JSON payload). A delivery that fails leaves the
// payment reclaimable by the payer (cashu.Wallet.Reclaim).
func Deliver(ctx context.Context, client *http.Client, req Request, p Payload) error {
	if len(req.Transports) == 0 {
		return ErrInBand
	}
	for _, t := range req.Transports {
		if t.Type == TransportPost {
			return Post(ctx, client, t.Target, p)
		}
	}
	return ErrNoTransport
}

// Post sends p to target as JSON (NUT-18 post transport); a 2xx answer
// means the payee took it.
func Post(ctx context.Context, client *http.Client, target string, p Payload) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%w: post target is not an http(s) URL", ErrMalformed)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("creq: encode payload: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("creq: post: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hr)
	if err != nil {
		return fmt.Errorf("creq: post to %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: HTTP %d: %s", ErrRejected, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}
