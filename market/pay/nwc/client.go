package nwc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip44"

	"github.com/sovmesh/sovmesh/market/pay/bolt11"
)

// Client talks to one wallet service.
type Client struct {
	uri     URI
	pub     string
	convKey [32]byte
	relay   *nostr.Relay
	timeout time.Duration
}

// ClientOptions shape a Client.
type ClientOptions struct {
	// Timeout for each request. Default 30s.
	Timeout time.Duration
	// Network of invoices ("bitcoin", "signet", ...) for pay checks. Default bitcoin.
	Network string
}

// Connect opens the first relay of the URI.
func Connect(ctx context.Context, uri URI, opts ClientOptions) (*Client, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	pub, err := nostr.GetPublicKey(uri.Secret)
	if err != nil {
		return nil, fmt.Errorf("%w: secret", ErrBadURI)
	}
	ck, err := nip44.GenerateConversationKey(uri.WalletPubkey, uri.Secret)
	if err != nil {
		return nil, fmt.Errorf("%w: keys", ErrBadURI)
	}
	r, err := nostr.RelayConnect(ctx, uri.Relays[0])
	if err != nil {
		return nil, fmt.Errorf("nwc: connect relay: %w", err)
	}
	return &Client{uri: uri, pub: pub, convKey: ck, relay: r, timeout: opts.Timeout}, nil
}

// Close closes the relay connection.
func (c *Client) Close() error { return c.relay.Close() }

// call sends one request and waits for its response.
func (c *Client) call(ctx context.Context, method string, params, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(request{Method: method, Params: p})
	content, err := nip44.Encrypt(string(body), c.convKey)
	if err != nil {
		return fmt.Errorf("nwc: encrypt: %w", err)
	}
	ev := nostr.Event{
		Kind: KindRequest, CreatedAt: nostr.Now(), Content: content,
		Tags: nostr.Tags{{"p", c.uri.WalletPubkey}, {"encryption", Encryption},
			{"expiration", strconv.FormatInt(time.Now().Add(c.timeout).Unix()+2, 10)}},
	}
	if err := ev.Sign(c.uri.Secret); err != nil {
		return fmt.Errorf("nwc: sign: %w", err)
	}
	sub, err := c.relay.Subscribe(ctx, nostr.Filters{{
		Kinds: []int{KindResponse}, Authors: []string{c.uri.WalletPubkey},
		Tags: nostr.TagMap{"e": []string{ev.ID}, "p": []string{c.pub}},
	}})
	if err != nil {
		return fmt.Errorf("nwc: subscribe: %w", err)
	}
	defer sub.Unsub()
	// Publish only once the relay has registered the subscription (EOSE),
	// or a fast response could be broadcast before it and be missed.
	select {
	case <-sub.EndOfStoredEvents:
	case <-ctx.Done():
		return fmt.Errorf("%w: %s: no EOSE from the relay", ErrTimeout, method)
	}
	if err := c.relay.Publish(ctx, ev); err != nil {
		return fmt.Errorf("nwc: publish request: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w: %s", ErrTimeout, method)
			}
			return ctx.Err()
		case re, ok := <-sub.Events:
			if !ok {
				return fmt.Errorf("nwc: subscription closed")
			}
			if re.PubKey != c.uri.WalletPubkey || !re.Tags.ContainsAny("e", []string{ev.ID}) {
				continue
			}
			if ok, _ := re.CheckSignature(); !ok {
				continue
			}
			plain, err := nip44.Decrypt(re.Content, c.convKey)
			if err != nil {
				return fmt.Errorf("nwc: decrypt response: %w", err)
			}
			var resp response
			if err := json.Unmarshal([]byte(plain), &resp); err != nil {
				return fmt.Errorf("nwc: bad response: %w", err)
			}
			if resp.Error != nil {
				return resp.Error
			}
			if resp.ResultType != method {
				return fmt.Errorf("nwc: response for %q, asked %q", resp.ResultType, method)
			}
			if out != nil {
				if err := json.Unmarshal(resp.Result, out); err != nil {
					return fmt.Errorf("nwc: bad %s result: %w", method, err)
				}
			}
			return nil
		}
	}
}

// PayResult is the result of pay_invoice.
type PayResult struct {
	Preimage string `json:"preimage"`
	FeesPaid uint64 `json:"fees_paid"`
}

// PayInvoice checks the invoice against expect (amount, expiry, network,
// description hash) before paying, and the preimage against the payment
// hash after.
func (c *Client) PayInvoice(ctx context.Context, invoice, network string, expect bolt11.Expect) (PayResult, error) {
	if network == "" {
		network = "bitcoin"
	}
	inv, err := bolt11.Decode(invoice, network)
	if err != nil {
		return PayResult{}, err
	}
	if err := inv.Check(expect); err != nil {
		return PayResult{}, err
	}
	var res PayResult
	if err := c.call(ctx, "pay_invoice", map[string]any{"invoice": inv.Raw}, &res); err != nil {
		return PayResult{}, err
	}
	if err := inv.VerifyPreimage(res.Preimage); err != nil {
		return res, fmt.Errorf("nwc: wallet reported payment: %w", err)
	}
	return res, nil
}

// MakeInvoice asks for an invoice of amountMsat.
func (c *Client) MakeInvoice(ctx context.Context, amountMsat uint64, description string, expiry time.Duration) (Transaction, error) {
	p := map[string]any{"amount": amountMsat, "description": description}
	if expiry > 0 {
		p["expiry"] = int64(expiry.Seconds())
	}
	var tx Transaction
	return tx, c.call(ctx, "make_invoice", p, &tx)
}

// LookupInvoice looks an invoice up by payment hash.
func (c *Client) LookupInvoice(ctx context.Context, paymentHash string) (Transaction, error) {
	var tx Transaction
	return tx, c.call(ctx, "lookup_invoice", map[string]any{"payment_hash": paymentHash}, &tx)
}

// GetBalance returns the wallet balance in msats.
func (c *Client) GetBalance(ctx context.Context) (uint64, error) {
	var res struct {
		Balance uint64 `json:"balance"`
	}
	return res.Balance, c.call(ctx, "get_balance", map[string]any{}, &res)
}

// GetInfo returns the wallet's info.
func (c *Client) GetInfo(ctx context.Context) (Info, error) {
	var info Info
	return info, c.call(ctx, "get_info", map[string]any{}, &info)
}
