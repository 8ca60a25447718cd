package cashu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	gcashu "github.com/elnosh/gonuts/cashu"
	"github.com/elnosh/gonuts/cashu/nuts/nut01"
	"github.com/elnosh/gonuts/cashu/nuts/nut02"
	"github.com/elnosh/gonuts/cashu/nuts/nut03"
	"github.com/elnosh/gonuts/cashu/nuts/nut04"
	"github.com/elnosh/gonuts/cashu/nuts/nut05"
	"github.com/elnosh/gonuts/cashu/nuts/nut07"
	"github.com/elnosh/gonuts/cashu/nuts/nut09"
)

// mintClient speaks the Cashu HTTP API (NUT-01..09) with a context on every
// call. Errors: a *MintError for an answer the mint gave (a definite outcome),
// ErrMintUnreachable wrapped around anything else (the outcome is unknown).
type mintClient struct {
	http *http.Client
}

// errNotSent marks a request that never left this host (the connection
// could not be made), so the mint cannot have acted on it.
var errNotSent = errors.New("connection refused, request not sent")

// MintError is an error answer of a mint (HTTP 400 with a Cashu error code).
// The request did not take effect.
type MintError struct {
	Code   int
	Detail string
}

func (e *MintError) Error() string {
	return fmt.Sprintf("mint refused: %s (code %d)", e.Detail, e.Code)
}

func (c mintClient) get(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMintUnreachable, err)
	}
	return c.do(req, out)
}

func (c mintClient) post(ctx context.Context, url string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMintUnreachable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, out)
}

func (c mintClient) do(req *http.Request, out any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		// Name the mint (scheme and host: the mint URL a user set), not
		// the endpoint's path.
		mint := req.URL.Scheme + "://" + req.URL.Host
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			return fmt.Errorf("%w: %s: %w", ErrMintUnreachable, mint, errNotSent)
		}
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return fmt.Errorf("%w: %s: %v", ErrMintUnreachable, mint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%w: read answer: %v", ErrMintUnreachable, err)
	}
	if resp.StatusCode == http.StatusBadRequest {
		var e gcashu.Error
		if err := json.Unmarshal(data, &e); err != nil || e.Detail == "" {
			return &MintError{Code: 0, Detail: truncate(string(data), 200)}
		}
		return &MintError{Code: int(e.Code), Detail: truncate(e.Detail, 200)}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: HTTP %d", ErrMintUnreachable, resp.StatusCode)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: bad answer: %v", ErrMintUnreachable, err)
	}
	return nil
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (c mintClient) keysets(ctx context.Context, mint string) (*nut02.GetKeysetsResponse, error) {
	var out nut02.GetKeysetsResponse
	return &out, c.get(ctx, mint+"/v1/keysets", &out)
}

func (c mintClient) keysetByID(ctx context.Context, mint, id string) (*nut01.GetKeysResponse, error) {
	var out nut01.GetKeysResponse
	return &out, c.get(ctx, mint+"/v1/keys/"+id, &out)
}

func (c mintClient) swap(ctx context.Context, mint string, req nut03.PostSwapRequest) (*nut03.PostSwapResponse, error) {
	var out nut03.PostSwapResponse
	return &out, c.post(ctx, mint+"/v1/swap", req, &out)
}

func (c mintClient) restore(ctx context.Context, mint string, req nut09.PostRestoreRequest) (*nut09.PostRestoreResponse, error) {
	var out nut09.PostRestoreResponse
	return &out, c.post(ctx, mint+"/v1/restore", req, &out)
}

func (c mintClient) checkState(ctx context.Context, mint string, ys []string) (*nut07.PostCheckStateResponse, error) {
	var out nut07.PostCheckStateResponse
	return &out, c.post(ctx, mint+"/v1/checkstate", nut07.PostCheckStateRequest{Ys: ys}, &out)
}

func (c mintClient) mintQuote(ctx context.Context, mint string, amount uint64) (*nut04.PostMintQuoteBolt11Response, error) {
	var out nut04.PostMintQuoteBolt11Response
	return &out, c.post(ctx, mint+"/v1/mint/quote/bolt11", nut04.PostMintQuoteBolt11Request{Amount: amount, Unit: "sat"}, &out)
}

func (c mintClient) mintQuoteState(ctx context.Context, mint, quote string) (*nut04.PostMintQuoteBolt11Response, error) {
	var out nut04.PostMintQuoteBolt11Response
	return &out, c.get(ctx, mint+"/v1/mint/quote/bolt11/"+quote, &out)
}

func (c mintClient) mintTokens(ctx context.Context, mint string, req nut04.PostMintBolt11Request) (*nut04.PostMintBolt11Response, error) {
	var out nut04.PostMintBolt11Response
	return &out, c.post(ctx, mint+"/v1/mint/bolt11", req, &out)
}

func (c mintClient) meltQuote(ctx context.Context, mint, invoice string) (*nut05.PostMeltQuoteBolt11Response, error) {
	var out nut05.PostMeltQuoteBolt11Response
	return &out, c.post(ctx, mint+"/v1/melt/quote/bolt11", nut05.PostMeltQuoteBolt11Request{Request: invoice, Unit: "sat"}, &out)
}

func (c mintClient) meltQuoteState(ctx context.Context, mint, quote string) (*nut05.PostMeltQuoteBolt11Response, error) {
	var out nut05.PostMeltQuoteBolt11Response
	return &out, c.get(ctx, mint+"/v1/melt/quote/bolt11/"+quote, &out)
}

func (c mintClient) melt(ctx context.Context, mint string, req nut05.PostMeltBolt11Request) (*nut05.PostMeltQuoteBolt11Response, error) {
	var out nut05.PostMeltQuoteBolt11Response
	return &out, c.post(ctx, mint+"/v1/melt/bolt11", req, &out)
}
