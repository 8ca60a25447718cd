package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// InferenceProtocol carries one OpenAI-compatible chat completion request
// to a provider and streams the answer back:
//
//	buyer:    INFER request-json, then PAY token at pause points
//	provider: CHUNK chunk-json ... then OK units[8], or ERR code msg;
//	          NEEDPAY before a chunk the credit does not cover
//
// Each CHUNK is one "chat.completion.chunk" object (what an OpenAI server
// sends as an SSE data line). Units are chunks.
const InferenceProtocol protocol.ID = "/sovmesh/inference/1.0.0"

const (
	tInfer byte = 0x30
	tChunk byte = 0x31

	// MaxInferenceRequest bounds a request body.
	MaxInferenceRequest = 1 << 20
	// MaxInferenceChunk bounds one streamed chunk.
	MaxInferenceChunk = 256 << 10
)

// ChatMessage is one message of a chat completion request.
type ChatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// ChatRequest holds the fields of an OpenAI chat completion request that the
// protocol checks; the backend also receives the raw JSON with all fields.
type ChatRequest struct {
	Model    string        `json:"model"`
	Messages []ChatMessage `json:"messages"`
}

// ParseChatRequest checks that raw is a chat completion request: a JSON
// object with a model and at least one message with a role.
func ParseChatRequest(raw []byte) (*ChatRequest, error) {
	if len(raw) > MaxInferenceRequest {
		return nil, fmt.Errorf("%w: request of %d bytes", ErrTooLarge, len(raw))
	}
	var r ChatRequest
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("%w: request is not a chat completion object: %v", ErrBadRequest, err)
	}
	if r.Model == "" {
		return nil, fmt.Errorf("%w: request has no model", ErrBadRequest)
	}
	if len(r.Messages) == 0 {
		return nil, fmt.Errorf("%w: request has no messages", ErrBadRequest)
	}
	for i, m := range r.Messages {
		if m.Role == "" {
			return nil, fmt.Errorf("%w: message %d has no role", ErrBadRequest, i)
		}
	}
	return &r, nil
}

// InferenceBackend produces a chat completion. It calls emit once per
// chunk (a chat.completion.chunk JSON object) and returns when done; emit
// fails if the buyer is gone, stalls, or does not pay.
type InferenceBackend interface {
	ChatCompletion(ctx context.Context, req *ChatRequest, raw []byte, emit func(chunk []byte) error) error
}

// ServeInference registers the inference protocol on the host.
func (t *Host) ServeInference(backend InferenceBackend, gate PaymentGate) {
	t.h.SetStreamHandler(InferenceProtocol, func(s network.Stream) {
		t.wg.Add(1)
		defer t.wg.Done()
		if err := t.serveInference(s, backend, gate); err != nil {
			t.log.Debug("inference session failed", "peer", s.Conn().RemotePeer(), "err", err)
			if !errors.Is(err, errReported) {
				_ = s.Reset()
				return
			}
		}
		_ = s.Close()
	})
}

func (t *Host) serveInference(s network.Stream, backend InferenceBackend, gate PaymentGate) error {
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	c := newConn(s, 1+max(MaxInferenceRequest, MaxTokenSize), t.cfg.StreamTimeout)
	stop := c.watch(ctx)
	defer stop()
	fail := func(err error) error {
		_ = c.writeErr(err)
		return reportedError{err}
	}
	typ, body, err := c.read(t.cfg.StreamTimeout)
	if err != nil {
		if ferr := frameErr(err); ferr != nil {
			return fail(ferr)
		}
		return err
	}
	if typ != tInfer {
		return fail(fmt.Errorf("%w: want INFER, got %#x", ErrBadRequest, typ))
	}
	raw := append([]byte(nil), body...)
	req, err := ParseChatRequest(raw)
	if err != nil {
		return fail(err)
	}
	m, err := openMeter(ctx, gate, InferenceProtocol, s.Conn().RemotePeer(), "")
	if err != nil {
		return fail(err)
	}
	defer func() { m.close(context.WithoutCancel(ctx)) }()
	m.usage.BytesIn = uint64(len(raw))
	emit := func(chunk []byte) error {
		if len(chunk) > MaxInferenceChunk {
			return fmt.Errorf("%w: chunk of %d bytes", ErrTooLarge, len(chunk))
		}
		if err := t.waitPayment(ctx, c, m, 1); err != nil {
			return err
		}
		if err := c.write(tChunk, chunk); err != nil {
			return err
		}
		m.usage.Units++
		m.usage.BytesOut += uint64(len(chunk))
		return nil
	}
	if err := backend.ChatCompletion(ctx, req, raw, emit); err != nil {
		if errors.Is(err, ErrPaymentRefused) || errors.Is(err, ErrPayTimeout) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrProtocol) {
			return fail(err)
		}
		return err
	}
	return c.write(rOK, u64s(m.usage.Units))
}

// InferenceStream is the buyer's side of one streamed completion.
type InferenceStream struct {
	t     *Host
	c     *conn
	p     peer.ID
	payer Payer
	ctx   context.Context
	stop  func() bool
	units uint64
	bytes uint64
	done  bool
	once  sync.Once
}

// Infer sends a chat completion request (OpenAI JSON) to provider p and
// returns the stream of answer chunks. payer answers pause points.
func (t *Host) Infer(ctx context.Context, p peer.ID, request []byte, payer Payer) (*InferenceStream, error) {
	if _, err := ParseChatRequest(request); err != nil {
		return nil, err
	}
	s, err := t.newStream(ctx, p, InferenceProtocol)
	if err != nil {
		return nil, err
	}
	c := newConn(s, 1+MaxInferenceChunk, t.cfg.StreamTimeout)
	is := &InferenceStream{t: t, c: c, p: p, payer: payer, ctx: ctx, stop: c.watch(ctx)}
	if err := c.write(tInfer, request); err != nil {
		is.Close()
		return nil, fmt.Errorf("transport: inference request: %w", ctxErr(ctx, err))
	}
	return is, nil
}

// Recv returns the next chunk of the answer (valid until the next call), or
// io.EOF after the last one. A provider that sends nothing for the stream
// timeout fails the call.
func (is *InferenceStream) Recv() ([]byte, error) {
	if is.done {
		return nil, io.EOF
	}
	for range 65 {
		typ, body, err := is.c.read(is.t.cfg.StreamTimeout)
		if err != nil {
			is.Close()
			return nil, fmt.Errorf("transport: inference: %w", ctxErr(is.ctx, err))
		}
		switch typ {
		case tChunk:
			is.units++
			is.bytes += uint64(len(body))
			return body, nil
		case rNeedPay:
			used, credit, need, err := decodeNeedPay(body)
			if err == nil {
				err = payStep(is.ctx, is.c, is.payer, Invoice{Provider: is.p, Protocol: InferenceProtocol, Used: used, Credit: credit, Need: need})
			}
			if err != nil {
				is.Close()
				return nil, err
			}
		case rOK:
			units, err := decodeU64("OK", body)
			if err == nil && units != is.units {
				err = fmt.Errorf("%w: provider counts %d chunks, %d received", ErrProtocol, units, is.units)
			}
			if err != nil {
				is.Close()
				return nil, err
			}
			is.done = true
			is.Close()
			return nil, io.EOF
		case rErr:
			is.Close()
			return nil, decodeRemoteError(body)
		default:
			is.Close()
			return nil, fmt.Errorf("%w: inference frame %#x", ErrProtocol, typ)
		}
	}
	is.Close()
	return nil, fmt.Errorf("%w: too many payment steps", ErrProtocol)
}

// Usage returns chunks (Units) and chunk bytes (BytesOut) received so far.
func (is *InferenceStream) Usage() Usage { return Usage{Units: is.units, BytesOut: is.bytes} }

// Close ends the stream; the provider's backend sees its context cancelled
// or its emit fail.
func (is *InferenceStream) Close() {
	is.once.Do(func() {
		is.stop()
		if is.done {
			_ = is.c.s.Close()
		} else {
			_ = is.c.s.Reset()
		}
	})
}
