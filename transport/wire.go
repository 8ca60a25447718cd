package transport

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport/internal/frame"
)

// Errors a remote peer reports (compare with errors.Is) and local protocol
// errors.
var (
	ErrNotFound       = errors.New("transport: chunk not found")
	ErrCIDMismatch    = errors.New("transport: data does not match CID")
	ErrQuotaExceeded  = errors.New("transport: provider quota exceeded")
	ErrNotOwner       = errors.New("transport: not the chunk's owner")
	ErrUnauthorized   = errors.New("transport: unauthorized")
	ErrPaymentRefused = errors.New("transport: payment refused")
	ErrPayTimeout     = errors.New("transport: no payment at pause point")
	ErrBadRequest     = errors.New("transport: bad request")
	ErrRemoteInternal = errors.New("transport: provider internal error")
	ErrTargetRefused  = errors.New("transport: target refused")
	ErrProtocol       = errors.New("transport: protocol violation")
	ErrTooLarge       = errors.New("transport: too large")
	// ErrSessionRefused: the market session a stream names is unknown to
	// the provider, another buyer's, for another service, or closed.
	ErrSessionRefused = errors.New("transport: session refused")
)

// error codes on the wire, in the order of codeErrs.
var codeErrs = []error{
	ErrRemoteInternal, ErrNotFound, ErrCIDMismatch, ErrQuotaExceeded, ErrNotOwner,
	ErrUnauthorized, ErrPaymentRefused, ErrPayTimeout, ErrBadRequest, ErrTargetRefused,
	ErrProtocol, ErrTooLarge, ErrSessionRefused,
}

func errCode(err error) byte {
	for i, e := range codeErrs {
		if errors.Is(err, e) {
			return byte(i)
		}
	}
	return 0
}

// RemoteError is an error reported by the remote peer.
type RemoteError struct {
	Code byte
	Msg  string
}

func (e *RemoteError) Error() string { return "transport: remote: " + e.Msg }

// Unwrap returns the sentinel the code stands for.
func (e *RemoteError) Unwrap() error {
	if int(e.Code) < len(codeErrs) {
		return codeErrs[e.Code]
	}
	return ErrRemoteInternal
}

// maxErrMsg bounds the message of an ERR frame, sent or received.
const maxErrMsg = 400

// encodeRemoteError is the body of an ERR frame: the code, then the
// message cut to maxErrMsg bytes.
func encodeRemoteError(code byte, msg string) []byte {
	if len(msg) > maxErrMsg {
		msg = msg[:maxErrMsg]
	}
	return append([]byte{code}, msg...)
}

// decodeRemoteError parses an ERR frame's body (see encodeRemoteError).
func decodeRemoteError(body []byte) error {
	if len(body) == 0 {
		return &RemoteError{Msg: "empty error"}
	}
	msg := body[1:]
	if len(msg) > maxErrMsg {
		msg = msg[:maxErrMsg]
	}
	return &RemoteError{Code: body[0], Msg: string(msg)}
}

// Common frame types. Requests are below 0x80, responses at or above.
const (
	tPay     byte = 0x10 // token
	tSession byte = 0x11 // market session: empty (none) or its 32-byte id
	rOK      byte = 0x80 // body depends on request
	rData    byte = 0x81 // data
	rErr     byte = 0x82 // code, message
	rNeedPay byte = 0x83 // used u64, credit u64, need u64
	rCredit  byte = 0x84 // credit u64
)

// sessionIDSize is the size of a market session id on the wire: the 32
// bytes its hex form (nips.Match.Session) encodes.
const sessionIDSize = 32

// encodeSession is the body of a SESSION frame: nothing for no session
// (a walk-in, charged the provider's list prices), else the session id's
// 32 bytes.
func encodeSession(id string) ([]byte, error) {
	if id == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != sessionIDSize {
		return nil, fmt.Errorf("%w: session id %q is not %d bytes of hex", ErrBadRequest, id, sessionIDSize)
	}
	return b, nil
}

// decodeSession parses a SESSION frame's body (see encodeSession) into the
// session id's lowercase hex ("" for none).
func decodeSession(body []byte) (string, error) {
	switch len(body) {
	case 0:
		return "", nil
	case sessionIDSize:
		return hex.EncodeToString(body), nil
	}
	return "", fmt.Errorf("%w: SESSION frame of %d bytes, want 0 or %d", ErrBadRequest, len(body), sessionIDSize)
}

// SessionPayer is a Payer that pays within market sessions: every storage
// and bandwidth stream opened with it names, in its first frame, the
// session MarketSession returns for the provider ("" names none: a
// walk-in at the provider's list prices). The provider books the stream's
// payments and usage to that session, and refuses the stream if it does
// not know the session as an open one of this buyer for this service.
// Streams opened with any other Payer (or none) name no session.
type SessionPayer interface {
	Payer
	MarketSession(provider peer.ID) string
}

// marketSession is the session streams to p paid by payer name.
func marketSession(payer Payer, p peer.ID) string {
	if sp, ok := payer.(SessionPayer); ok {
		return sp.MarketSession(p)
	}
	return ""
}

// conn is a framed stream with deadlines on every operation.
type conn struct {
	s       network.Stream
	fr      *frame.Reader
	timeout time.Duration // body read and every write
	// inFrame: the last read got past a frame's length. A read that failed
	// with inFrame false may be retried (see frame.Reader).
	inFrame bool
}

func newConn(s network.Stream, maxFrame int, timeout time.Duration) *conn {
	c := &conn{s: s, fr: frame.NewReader(s, maxFrame), timeout: timeout}
	c.fr.OnHeader = func() {
		c.inFrame = true
		_ = s.SetReadDeadline(time.Now().Add(timeout))
	}
	return c
}

// idleAlive reports whether an idle stream, between an answer and the next
// request, can take a request: the peer has neither closed nor reset it, nor
// sent anything since. It does not block: a read with a deadline already
// passed reports what the stream holds, and a timeout means nothing.
func (c *conn) idleAlive() bool {
	if err := c.s.SetReadDeadline(time.Now()); err != nil {
		return false
	}
	var b [1]byte
	n, err := c.s.Read(b[:])
	if err := c.s.SetReadDeadline(time.Time{}); err != nil {
		return false
	}
	var ne net.Error
	return n == 0 && errors.As(err, &ne) && ne.Timeout()
}

// read reads the next frame, waiting at most wait for it to start.
func (c *conn) read(wait time.Duration) (byte, []byte, error) {
	return c.readInto(wait, nil)
}

// readInto is read, with the body read into dst when it fits (see
// frame.Reader.NextInto).
func (c *conn) readInto(wait time.Duration, dst []byte) (byte, []byte, error) {
	c.inFrame = false
	if err := c.s.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return 0, nil, err
	}
	return c.fr.NextInto(dst)
}

func (c *conn) write(typ byte, parts ...[]byte) error {
	if err := c.s.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return err
	}
	return frame.Write(c.s, typ, parts...)
}

// writeRaw writes p, a whole frame or frames, in one Write.
func (c *conn) writeRaw(p []byte) error {
	if err := c.s.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return err
	}
	_, err := c.s.Write(p)
	return err
}

// writeErr sends err's code and text to the remote.
func (c *conn) writeErr(err error) error {
	return c.write(rErr, encodeRemoteError(errCode(err), err.Error()))
}

// frameErr maps an error of the frame reader to the protocol's sentinels,
// for an ERR answer: a frame over the limit is ErrTooLarge, an empty or
// truncated one ErrProtocol. It returns nil for other errors (a timeout, a
// reset, a clean EOF between frames).
func frameErr(err error) error {
	switch {
	case errors.Is(err, frame.ErrTooLarge):
		return fmt.Errorf("%w: %v", ErrTooLarge, err)
	case errors.Is(err, frame.ErrEmpty), errors.Is(err, frame.ErrTruncated):
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	return nil
}

// watch makes the stream fail once ctx is done; call the result to stop.
func (c *conn) watch(ctx context.Context) func() bool {
	return context.AfterFunc(ctx, func() { _ = c.s.SetDeadline(time.Now()) })
}

func u64s(vs ...uint64) []byte {
	b := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

// decodeU64 parses a body of one big-endian u64: WANT, GRANT, CREDIT, and
// the OK answers to CONNECT (credit) and to an inference (units). what
// names the frame in the error.
func decodeU64(what string, body []byte) (uint64, error) {
	if len(body) != 8 {
		return 0, fmt.Errorf("%w: %s frame of %d bytes, want 8", ErrProtocol, what, len(body))
	}
	return binary.BigEndian.Uint64(body), nil
}

// decodeNeedPay parses a rNeedPay body: used, credit and need, u64 each
// (encoded by u64s).
func decodeNeedPay(body []byte) (used, credit, need uint64, err error) {
	if len(body) != 24 {
		return 0, 0, 0, fmt.Errorf("%w: need-pay frame of %d bytes", ErrProtocol, len(body))
	}
	return binary.BigEndian.Uint64(body), binary.BigEndian.Uint64(body[8:]), binary.BigEndian.Uint64(body[16:]), nil
}

// waitPayment runs a provider's pause point: it asks the buyer for payment
// and redeems PAY frames until the step of n units is covered.
func (t *Host) waitPayment(ctx context.Context, c *conn, m *meter, n uint64) error {
	for range 64 {
		short := m.short(n)
		if short == 0 {
			return nil
		}
		tok, err := t.askPayment(c, m.usage.Units, m.credit, short)
		if err != nil {
			return err
		}
		if err := m.redeem(ctx, tok); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: too many payment steps", ErrPaymentRefused)
}

// askPayment sends NEEDPAY (need 0: a payment ahead, which the buyer may
// decline with an empty PAY) and returns the PAY frame's token, which
// aliases the frame buffer.
func (t *Host) askPayment(c *conn, used, credit, need uint64) ([]byte, error) {
	if err := c.write(rNeedPay, u64s(used, credit, need)); err != nil {
		return nil, err
	}
	// The token is read into a buffer of its own, not the frame buffer,
	// which may hold the body of the request being paid for (a put's
	// chunk, stored after a payment ahead).
	typ, body, err := c.readInto(t.cfg.PayTimeout, make([]byte, 0, MaxTokenSize))
	if err != nil {
		if isTimeout(err) {
			return nil, fmt.Errorf("%w: %v", ErrPayTimeout, err)
		}
		if ferr := frameErr(err); ferr != nil {
			return nil, ferr
		}
		return nil, err
	}
	if typ != tPay {
		return nil, fmt.Errorf("%w: frame %#x at pause point, want payment", ErrProtocol, typ)
	}
	if len(body) > MaxTokenSize {
		return nil, fmt.Errorf("%w: payment token of %d bytes", ErrTooLarge, len(body))
	}
	return body, nil
}

// pay answers a rNeedPay frame on the buyer side.
func payStep(ctx context.Context, c *conn, payer Payer, inv Invoice) error {
	if payer == nil {
		return fmt.Errorf("%w: provider wants payment and no payer is set", ErrPaymentRefused)
	}
	tok, err := payer.Pay(ctx, inv)
	if err != nil {
		return fmt.Errorf("transport: pay: %w", err)
	}
	if len(tok) == 0 && inv.Need > 0 {
		return fmt.Errorf("%w: payer declined a payment the provider needs", ErrPaymentRefused)
	}
	if len(tok) > MaxTokenSize {
		return fmt.Errorf("%w: payment token of %d bytes", ErrTooLarge, len(tok))
	}
	return c.write(tPay, tok)
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}
