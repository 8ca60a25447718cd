// Package nut24test is the payer's side of NUT-24 (Cashu over HTTP 402),
// which sovmesh's tests use to pay its NUT-24 servers (nut24.Server, the
// Blossom server's BUD-07 wall) as a client would: on a 402 it pays the
// X-Cashu payment request from a wallet and retries. No sat is lost: it
// takes back a token the server refused (HTTP 400) or never redeemed.
package nut24test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/creq"
	"github.com/sovmesh/sovmesh/market/pay/nut24"
)

// Errors.
var (
	// ErrRefused: the server answered 400 to the payment; the token was
	// taken back.
	ErrRefused = errors.New("nut24test: server refused the payment")
	// ErrNoRequest: a 402 without a usable X-Cashu payment request.
	ErrNoRequest = errors.New("nut24test: 402 without a creqA or creqb payment request")
	// ErrBodyNotReplayable: the request body cannot be sent twice.
	ErrBodyNotReplayable = errors.New("nut24test: request body cannot be replayed (set GetBody)")
)

// Client pays 402 answers from a wallet.
type Client struct {
	Wallet *cashu.Wallet
	// HTTP client; default http.DefaultClient.
	HTTP *http.Client
	// Max is the most one request may cost (0: no cap).
	Max uint64
}

// Do sends req; on a 402 with a creqA request it pays (PayRequest checks
// amount, unit, mints, lock) and retries with the token. A 400 to the
// retry takes the token back and returns ErrRefused; a retry that fails on
// the way is sent once more with the same token, and if that fails too the
// token is taken back unless the server already redeemed it.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusPaymentRequired {
		return resp, err
	}
	enc := resp.Header.Get(nut24.Header)
	drain(resp)
	pr, err := creq.DecodeAny(enc) // creqA (NUT-18) or creqb1 (NUT-26)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoRequest, err)
	}
	ctx := req.Context()
	_, sent, err := c.Wallet.PayRequest(ctx, pr, cashu.PayRequestOptions{Max: c.Max, Memo: "nut24"})
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 2 {
		retry, err := clone(req)
		if err != nil {
			c.takeBack(ctx, sent.OpID)
			return nil, err
		}
		retry.Header.Set(nut24.Header, sent.Token)
		resp, err := hc.Do(retry)
		if err != nil {
			lastErr = err
			continue
		}
		switch {
		case resp.StatusCode == http.StatusBadRequest:
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
			drain(resp)
			c.takeBack(ctx, sent.OpID)
			return nil, fmt.Errorf("%w: %s", ErrRefused, bytes.TrimSpace(msg))
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusPaymentRequired:
			lastErr = fmt.Errorf("nut24: HTTP %d to the paid retry", resp.StatusCode)
			drain(resp)
			continue
		}
		_ = c.Wallet.MarkDelivered(ctx, sent.OpID)
		return resp, nil
	}
	c.takeBack(ctx, sent.OpID)
	return nil, lastErr
}

// takeBack reclaims a token the server did not keep (Reclaim finds out).
func (c *Client) takeBack(ctx context.Context, opID int64) {
	_, _ = c.Wallet.Reclaim(context.WithoutCancel(ctx), opID)
}

func clone(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return nil, ErrBodyNotReplayable
		}
		b, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("nut24: replay body: %w", err)
		}
		r.Body = b
	}
	return r, nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
}
