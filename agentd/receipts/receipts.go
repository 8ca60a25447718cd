// Package receipts is the exchange by which a provider and a buyer sign a
// session's receipt (kind 8462) together, over a libp2p stream of the
// provider's host: the buyer asks for the receipt of a session, the
// provider sends the unsigned receipt (its pubkey and created_at final),
// the buyer checks it against what it received and paid and returns its
// countersignature, and the provider signs, publishes and returns the
// event. The buyer then publishes its attestation.
package receipts

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// Protocol is the libp2p protocol id.
const Protocol protocol.ID = "/sovmesh/agentd/receipt/1.0.0"

const (
	maxMsg  = 64 << 10
	timeout = 30 * time.Second
)

// Errors.
var (
	ErrRefused = errors.New("receipts: refused")
)

type request struct {
	Session    string `json:"session,omitempty"`
	Countersig string `json:"countersig,omitempty"`
	Error      string `json:"error,omitempty"`
}

type response struct {
	Event *nostr.Event `json:"event,omitempty"`
	Error string       `json:"error,omitempty"`
}

// Builder returns the receipt of session for buyer (unsigned; the caller
// sets nothing else), or an error if buyer is not the session's buyer.
type Builder func(ctx context.Context, session, buyer string) (nips.Receipt, error)

// Finisher signs and publishes the countersigned receipt.
type Finisher func(ctx context.Context, ev *nostr.Event, r nips.Receipt) error

// Serve registers the protocol on h. providerPub is the host's Nostr key.
func Serve(ctx context.Context, h host.Host, providerPub string, build Builder, finish Finisher) {
	h.SetStreamHandler(Protocol, func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(timeout))
		buyer, err := transport.NostrPubkeyFromPeerID(s.Conn().RemotePeer())
		if err != nil {
			_ = s.Reset()
			return
		}
		rd := bufio.NewReader(io.LimitReader(s, maxMsg))
		enc := json.NewEncoder(s)
		var req request
		if err := json.NewDecoder(rd).Decode(&req); err != nil {
			return
		}
		fail := func(err error) { _ = enc.Encode(response{Error: err.Error()}) }
		r, err := build(ctx, req.Session, buyer)
		if err != nil {
			fail(err)
			return
		}
		ev := r.ToEvent(nostr.Now())
		ev.PubKey = providerPub
		if err := enc.Encode(response{Event: &ev}); err != nil {
			return
		}
		dec := json.NewDecoder(rd)
		var cs request
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
		_ = enc.Encode(response{Event: &signed})
	})
}

// Check is the buyer's check of the receipt before countersigning.
type Check func(r nips.Receipt) error

// Request asks provider p for the receipt of session, checks it, and
// countersigns it with buyerSK. It returns the provider-signed event.
func Request(ctx context.Context, h host.Host, p peer.ID, session, buyerSK string, check Check) (*nostr.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := h.NewStream(ctx, p, Protocol)
	if err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(d)
	}
	enc := json.NewEncoder(s)
	dec := json.NewDecoder(bufio.NewReader(io.LimitReader(s, 3*maxMsg)))
	if err := enc.Encode(request{Session: session}); err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	var resp response
	if err := dec.Decode(&resp); err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	if resp.Error != "" || resp.Event == nil {
		return nil, fmt.Errorf("%w: %s", ErrRefused, resp.Error)
	}
	ev := resp.Event
	want, err := transport.NostrPubkeyFromPeerID(p)
	if err != nil || ev.PubKey != want {
		return nil, fmt.Errorf("%w: receipt not from the provider", ErrRefused)
	}
	r, err := nips.ParseReceipt(ev)
	if err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	if r.Session != session {
		return nil, fmt.Errorf("%w: receipt for another session", ErrRefused)
	}
	if err := check(r); err != nil {
		_ = enc.Encode(request{Error: err.Error()})
		return nil, fmt.Errorf("receipts: not countersigned: %w", err)
	}
	sig, err := nips.Countersign(ev, buyerSK)
	if err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	if err := enc.Encode(request{Countersig: sig}); err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	var final response
	if err := dec.Decode(&final); err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	if final.Error != "" || final.Event == nil {
		return nil, fmt.Errorf("%w: %s", ErrRefused, final.Error)
	}
	if ok, err := final.Event.CheckSignature(); err != nil || !ok || final.Event.PubKey != want {
		return nil, fmt.Errorf("%w: bad signature on the final receipt", ErrRefused)
	}
	fr, err := nips.ParseReceipt(final.Event)
	if err != nil || !fr.Countersigned() || fr.Session != session {
		return nil, fmt.Errorf("%w: final receipt does not carry our countersignature", ErrRefused)
	}
	return final.Event, nil
}
