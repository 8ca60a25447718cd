package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
)

// ReceiptProtocol is the exchange by which a provider and a buyer sign a
// session's receipt (kind 8462, nips/receipt.md) together, on a stream the
// buyer opens to the provider: the buyer asks for the receipt of a session,
// the provider sends the unsigned receipt (its pubkey and created_at
// final), the buyer checks it against what it received and paid and
// returns its countersignature, and the provider signs, publishes and
// returns the event. Each message is one JSON object. (The id keeps the
// "agentd" it was first deployed under, so older peers still answer.)
const ReceiptProtocol protocol.ID = "/sovmesh/agentd/receipt/1.0.0"

const (
	maxReceiptMsg  = 64 << 10
	receiptTimeout = 30 * time.Second
)

// ErrReceiptRefused means the provider refused the receipt exchange, or its
// receipt was not one the buyer countersigns; the error says why.
var ErrReceiptRefused = errors.New("transport: receipt refused")

type receiptRequest struct {
	Session    string `json:"session,omitempty"`
	Countersig string `json:"countersig,omitempty"`
	Error      string `json:"error,omitempty"`
}

type receiptResponse struct {
	Event *nostr.Event `json:"event,omitempty"`
	Error string       `json:"error,omitempty"`
}

// ReceiptBuilder returns the receipt of session for buyer (unsigned; the
// exchange sets nothing else), or an error if buyer is not the session's
// buyer.
type ReceiptBuilder func(ctx context.Context, session, buyer string) (nips.Receipt, error)

// ReceiptFinisher signs and publishes the countersigned receipt.
type ReceiptFinisher func(ctx context.Context, ev *nostr.Event, r nips.Receipt) error

// ServeReceipts answers the receipt exchange with build and finish, in the
// host's name (its Nostr key is the receipt's pubkey).
func (t *Host) ServeReceipts(build ReceiptBuilder, finish ReceiptFinisher) {
	t.h.SetStreamHandler(ReceiptProtocol, func(s network.Stream) {
		t.wg.Add(1)
		defer t.wg.Done()
		defer s.Close()
		ctx, cancel := context.WithTimeout(t.ctx, receiptTimeout)
		defer cancel()
		_ = s.SetDeadline(time.Now().Add(receiptTimeout))
		buyer, err := NostrPubkeyFromPeerID(s.Conn().RemotePeer())
		if err != nil {
			_ = s.Reset()
			return
		}
		rd := bufio.NewReader(io.LimitReader(s, maxReceiptMsg))
		enc := json.NewEncoder(s)
		dec := json.NewDecoder(rd)
		var req receiptRequest
		if err := dec.Decode(&req); err != nil {
			return
		}
		fail := func(err error) { _ = enc.Encode(receiptResponse{Error: err.Error()}) }
		r, err := build(ctx, req.Session, buyer)
		if err != nil {
			fail(err)
			return
		}
		ev := r.ToEvent(nostr.Now())
		ev.PubKey = t.NostrPubkey()
		if err := enc.Encode(receiptResponse{Event: &ev}); err != nil {
			return
		}
		var cs receiptRequest
		if err := dec.Decode(&cs); err != nil || cs.Countersig == "" {
			return
		}
		if err := nips.VerifyCountersig(&ev, buyer, cs.Countersig); err != nil {
			fail(err)
			return
		}
		r.Countersig = cs.Countersig
		signed := r.ToEvent(ev.CreatedAt)
		if err := finish(ctx, &signed, r); err != nil {
			fail(err)
			return
		}
		_ = enc.Encode(receiptResponse{Event: &signed})
	})
}

// ReceiptCheck is the buyer's check of the receipt before countersigning.
type ReceiptCheck func(r nips.Receipt) error

// RequestReceipt asks provider p for the receipt of session, checks it, and
// countersigns it with the host's Nostr key. It returns the provider-signed
// event.
func (t *Host) RequestReceipt(ctx context.Context, p peer.ID, session string, check ReceiptCheck) (*nostr.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, receiptTimeout)
	defer cancel()
	s, err := t.h.NewStream(ctx, p, ReceiptProtocol)
	if err != nil {
		return nil, fmt.Errorf("transport: receipt: %w", err)
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(d)
	}
	enc := json.NewEncoder(s)
	dec := json.NewDecoder(bufio.NewReader(io.LimitReader(s, 3*maxReceiptMsg)))
	if err := enc.Encode(receiptRequest{Session: session}); err != nil {
		return nil, fmt.Errorf("transport: receipt: %w", err)
	}
	var resp receiptResponse
	if err := dec.Decode(&resp); err != nil {
		return nil, fmt.Errorf("transport: receipt: %w", err)
	}
	if resp.Error != "" || resp.Event == nil {
		return nil, fmt.Errorf("%w: %s", ErrReceiptRefused, resp.Error)
	}
	ev := resp.Event
	want, err := NostrPubkeyFromPeerID(p)
	if err != nil || ev.PubKey != want {
		return nil, fmt.Errorf("%w: receipt not from the provider", ErrReceiptRefused)
	}
	r, err := nips.ParseReceipt(ev)
	if err != nil {
		return nil, fmt.Errorf("transport: receipt: %w", err)
	}
	if r.Session != session {
		return nil, fmt.Errorf("%w: receipt for another session", ErrReceiptRefused)
	}
	if err := check(r); err != nil {
		_ = enc.Encode(receiptRequest{Error: err.Error()})
		return nil, fmt.Errorf("transport: receipt not countersigned: %w", err)
	}
	sig, err := nips.Countersign(ev, t.cfg.NostrSecret)
	if err != nil {
		return nil, fmt.Errorf("transport: receipt: %w", err)
	}
	if err := enc.Encode(receiptRequest{Countersig: sig}); err != nil {
		return nil, fmt.Errorf("transport: receipt: %w", err)
	}
	var final receiptResponse
	if err := dec.Decode(&final); err != nil {
		return nil, fmt.Errorf("transport: receipt: %w", err)
	}
	if final.Error != "" || final.Event == nil {
		return nil, fmt.Errorf("%w: %s", ErrReceiptRefused, final.Error)
	}
	if ok, err := final.Event.CheckSignature(); err != nil || !ok || final.Event.PubKey != want {
		return nil, fmt.Errorf("%w: bad signature on the final receipt", ErrReceiptRefused)
	}
	fr, err := nips.ParseReceipt(final.Event)
	if err != nil || !fr.Countersigned() || fr.Session != session {
		return nil, fmt.Errorf("%w: final receipt does not carry our countersignature", ErrReceiptRefused)
	}
	return final.Event, nil
}
