package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/sovmesh/sovmesh/transport/internal/frame"
)

// BandwidthProtocol carries one TCP connection of the buyer through the
// provider. The buyer sends SESSION (the market session the connection is
// paid in: empty for none, or its 32-byte id) and CONNECT host:port; the
// provider checks the session (ERR with ErrSessionRefused if it does not
// know it as an open bandwidth session of this buyer), dials the target
// and answers OK credit[8]. Then both sides exchange DATA frames; the provider
// counts carried bytes both ways as units of one shared credit.
//
// Both directions spend the credit with an atomic check-and-debit, so the
// units carried never exceed the credit, whatever the interleaving:
//   - target -> buyer: the provider reads from the target at most what the
//     credit covers at that moment, then debits what the credit still covers
//     (the other direction may have spent some meanwhile) and forwards only
//     that part. The rest waits at the pause point: NEEDPAY, then nothing
//     flows that way until a PAY frame is redeemed (CREDIT credit[8]).
//   - buyer -> target: the buyer may send only what the provider granted.
//     It asks with WANT total[8] (the cumulative bytes it wants to have
//     sent); the provider reserves what the credit covers out of the shared
//     credit and answers GRANT total[8] (cumulative). What the credit does
//     not cover waits at the pause point (NEEDPAY). A buyer that sends past
//     its grant is cut off.
//
// The buyer may send PAY at any time, not only at a pause point: it pays
// ahead of need so the next step is redeemed while the credit left still
// carries data (the provider redeems without holding up the download).
//
// A protocol violation (DATA past the grant, an unknown, malformed,
// truncated or oversized frame) or a refused or missing payment ends the
// session with ERR code msg, after which the provider closes the stream.
//
// Closing the write side is passed on as a TCP half-close.
//
// (3.0.0: the SESSION frame; 2.0.0 streams were booked to the buyer's
// latest open session.)
const BandwidthProtocol protocol.ID = "/sovmesh/bandwidth/3.0.0"

const (
	tConnect byte = 0x20
	tData    byte = 0x21
	tEOF     byte = 0x22 // no more data from the sender (half-close)
	tWant    byte = 0x23 // cumulative bytes the buyer wants to have sent, u64
	rGrant   byte = 0x88 // cumulative bytes the buyer may send, u64

	// bwFrameData is the most data a DATA frame carries, sized for the
	// libp2p connection under it: with the frame's 5-byte header and
	// yamux's 12-byte one, a full frame sent alone (the buyer's) is one
	// 64 KiB yamux message, which TLS sends as exactly four full 16 KiB
	// records; the provider sends up to bwBatch frames per message. (32 KiB of data made a yamux message of 32785 bytes: two
	// records and a third of 17 bytes, a record, an AEAD seal and a
	// syscall more per frame.)
	bwFrameData = 4*16384 - yamuxHeader - frame.HeaderSize
	yamuxHeader = 12
	// bwBatch is how many DATA frames the provider reads the target for
	// and writes to the stream at once (one yamux message of up to
	// maxMuxMessage).
	bwBatch = maxMuxMessage / (64 << 10)
	// maxBwFrame is the largest frame either side accepts: a DATA body of
	// up to 64 KiB or a payment token.
	maxBwFrame = 1 + max(64<<10, MaxTokenSize)
	maxTarget  = 300
	// bwWantWindow bounds how far ahead of what it has sent the buyer asks
	// for a grant (so how much credit a grant holds back from the other
	// direction).
	bwWantWindow = 256 << 10
)

// ErrTargetNotAllowed reports a CONNECT target the provider's policy refuses.
var ErrTargetNotAllowed = fmt.Errorf("%w: target not allowed", ErrTargetRefused)

// BandwidthConfig configures the provider side of BandwidthProtocol.
type BandwidthConfig struct {
	// Gate meters the session (nil: free).
	Gate PaymentGate
	// AllowPrivateTargets lets buyers reach loopback, private, link-local
	// and other non-public addresses. Off by default, so a buyer cannot
	// reach the provider's own services; tests turn it on.
	AllowPrivateTargets bool
	// DialTimeout bounds dialing the target (default 10 s).
	DialTimeout time.Duration
}

// ServeBandwidth registers the bandwidth protocol on the host.
func (t *Host) ServeBandwidth(cfg BandwidthConfig) {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	t.h.SetStreamHandler(BandwidthProtocol, func(s network.Stream) {
		t.wg.Add(1)
		defer t.wg.Done()
		if err := t.serveBandwidth(s, cfg); err != nil {
			t.log.Debug("bandwidth session ended", "peer", s.Conn().RemotePeer(), "err", err)
			if !errors.Is(err, errReported) {
				_ = s.Reset()
				return
			}
		}
		_ = s.Close()
	})
}

// PublicOnly, a net.Dialer's Control, refuses connections to non-public
// IPs at connect time (after DNS resolution, so a name cannot rebind to a
// private address) with ErrTargetNotAllowed.
func PublicOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTargetNotAllowed, err)
	}
	ip := ap.Addr().Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() {
		return fmt.Errorf("%w: %s is not a public address", ErrTargetNotAllowed, ip)
	}
	return nil
}

// bwSession is the provider's state for one carried connection.
//
// Invariant (under mu): m.usage.Units + reserved() <= m.credit, where
// reserved() is what was granted to the buyer and not yet received. Every
// byte carried either way is debited from the credit with one check under
// mu before it is forwarded.
type bwSession struct {
	t        *Host
	c        *conn
	target   net.Conn
	m        *meter
	upEOF    atomic.Bool
	downDone atomic.Bool
	active   atomic.Int64  // when traffic last flowed either way (Unix ns)
	wmu      sync.Mutex    // serializes frame writes; guards ended
	ended    bool          // an ERR frame was sent: no frame follows it
	credits  chan struct{} // a payment was redeemed (buffer 1)

	mu      sync.Mutex // guards m's counters and the fields below
	granted uint64     // cumulative bytes the buyer may send
	wanted  uint64     // cumulative bytes the buyer asked for
}

// touch records traffic.
func (b *bwSession) touch() { b.active.Store(time.Now().UnixNano()) }

// idleAt is when the session goes idle: IdleTimeout after the last traffic
// either way. A direction that is quiet while the other carries traffic
// (a download, an upload to a target that does not answer) keeps waiting.
func (b *bwSession) idleAt() time.Time {
	return time.Unix(0, b.active.Load()).Add(b.t.cfg.IdleTimeout)
}

// errIdle ends a session without traffic either way for the idle timeout.
func (b *bwSession) errIdle() error {
	return fmt.Errorf("transport: bandwidth: no traffic for %v: %w", b.t.cfg.IdleTimeout, timeoutError{})
}

func (b *bwSession) write(typ byte, parts ...[]byte) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if b.ended {
		return errEnded
	}
	return b.c.write(typ, parts...)
}

// writeFrames sends whole frames, built in place, in one write.
func (b *bwSession) writeFrames(f []byte) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if b.ended {
		return errEnded
	}
	return b.c.writeRaw(f)
}

// availLocked is the credit neither spent nor reserved for the buyer's
// granted bytes.
func (b *bwSession) availLocked() uint64 {
	reserved := b.granted - b.m.usage.BytesIn
	if b.m.usage.Units+reserved >= b.m.credit {
		return 0
	}
	return b.m.credit - b.m.usage.Units - reserved
}

// spendDown debits up to n units for target -> buyer bytes and returns how
// many the credit covers (the check and the debit are one step).
func (b *bwSession) spendDown(n uint64) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := min(n, b.availLocked())
	b.m.usage.BytesOut += k
	b.m.usage.Units += k
	return k
}

// grantLocked reserves credit for what the buyer wants and has not been
// granted. It reports whether the grant grew and how much is still short.
func (b *bwSession) grantLocked() (grew bool, short uint64) {
	if b.wanted <= b.granted {
		return false, 0
	}
	k := min(b.wanted-b.granted, b.availLocked())
	b.granted += k
	return k > 0, b.wanted - b.granted
}

func (t *Host) serveBandwidth(s network.Stream, cfg BandwidthConfig) error {
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	c := newConn(s, maxBwFrame, t.cfg.StreamTimeout)
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
	if typ != tSession {
		return fail(fmt.Errorf("%w: want SESSION first, got frame %#x", ErrBadRequest, typ))
	}
	market, err := decodeSession(body)
	if err != nil {
		return fail(err)
	}
	typ, body, err = c.read(t.cfg.StreamTimeout)
	if err != nil {
		if ferr := frameErr(err); ferr != nil {
			return fail(ferr)
		}
		return err
	}
	if typ != tConnect {
		return fail(fmt.Errorf("%w: want CONNECT host:port, got frame %#x", ErrBadRequest, typ))
	}
	target, err := decodeConnect(body)
	if err != nil {
		return fail(err)
	}
	m, err := openMeter(ctx, cfg.Gate, BandwidthProtocol, s.Conn().RemotePeer(), market)
	if err != nil {
		return fail(err)
	}
	b := &bwSession{t: t, c: c, m: m, credits: make(chan struct{}, 1)}
	defer func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		m.close(context.WithoutCancel(ctx))
	}()
	d := net.Dialer{Timeout: cfg.DialTimeout}
	if !cfg.AllowPrivateTargets {
		d.Control = PublicOnly
	}
	tc, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		if !errors.Is(err, ErrTargetNotAllowed) {
			err = fmt.Errorf("%w: %v", ErrTargetRefused, err)
		}
		return fail(err)
	}
	defer tc.Close()
	b.target = tc
	b.touch()
	if err := b.write(rOK, u64s(m.credit)); err != nil {
		return err
	}
	upc, downc := make(chan error, 1), make(chan error, 1)
	go func() { upc <- b.report(b.up(ctx)) }()
	go func() { downc <- b.report(b.down(ctx)) }()
	select {
	case err := <-downc:
		if err != nil {
			cancel()
			_ = tc.Close()
			return reported(err, <-upc)
		}
		// The target is done sending; the buyer may still send, and pays
		// for what it sends.
		return <-upc
	case err := <-upc:
		cancel()
		_ = tc.Close()
		return reported(err, <-downc)
	}
}

// errEnded is what a direction gets writing after the other reported the
// error that ends the session.
var errEnded = errors.New("transport: bandwidth: session ended")

// reported returns the error that ends a session, first the one of the
// direction that ended first, unless the other one's was reported to the
// buyer (then the stream must be closed, not reset, for the ERR to arrive).
func reported(first, second error) error {
	if !errors.Is(first, errReported) && errors.Is(second, errReported) {
		return second
	}
	return first
}

// decodeConnect parses a CONNECT body: the target, host:port.
func decodeConnect(body []byte) (string, error) {
	if len(body) == 0 || len(body) > maxTarget {
		return "", fmt.Errorf("%w: CONNECT target of %d bytes, want host:port of at most %d", ErrBadRequest, len(body), maxTarget)
	}
	target := string(body)
	if _, _, err := net.SplitHostPort(target); err != nil {
		return "", fmt.Errorf("%w: target %q: %v", ErrBadRequest, target, err)
	}
	return target, nil
}

// report tells the buyer why its session ends when the reason is the
// buyer's to know (a protocol violation, a frame too large, a refused or
// missing payment): it sends an ERR frame and marks err reported, so the
// stream is closed, not reset, and the frame arrives. Errors of the stream
// or the target (a reset, a timeout) end the session without a word.
func (b *bwSession) report(err error) error {
	if err == nil || errors.Is(err, errReported) {
		return err
	}
	if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrTooLarge) &&
		!errors.Is(err, ErrPaymentRefused) && !errors.Is(err, ErrPayTimeout) {
		return err
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if b.ended {
		return err // the other direction reported first
	}
	b.ended = true
	_ = b.c.writeErr(err)
	return reportedError{err}
}

// errReported marks errors already sent to the buyer in an ERR frame: the
// stream is closed, not reset, so the frame arrives.
var errReported = errors.New("reported")

type reportedError struct{ err error }

func (e reportedError) Error() string   { return e.err.Error() }
func (e reportedError) Unwrap() []error { return []error{e.err, errReported} }

// up reads the buyer's frames: DATA (carried buyer -> target within the
// grant), WANT (answered with GRANT, or NEEDPAY when the credit is short),
// PAY and EOF. It never waits for payment itself (PAY frames arrive on the
// stream it reads); a WANT the credit does not cover must be paid within
// PayTimeout. DATA past the grant, an unknown or malformed frame end the
// session with ErrProtocol (reported to the buyer, see report).
func (b *bwSession) up(ctx context.Context) error {
	var payBy time.Time // deadline for an unpaid WANT (zero: none)
	for {
		wait := time.Until(b.idleAt())
		if wait <= 0 {
			return b.errIdle()
		}
		if !payBy.IsZero() {
			wait = min(wait, time.Until(payBy))
			if wait <= 0 {
				return ErrPayTimeout
			}
		}
		typ, body, err := b.c.read(wait)
		if b.upEOF.Load() && b.downDone.Load() {
			return nil // both directions finished
		}
		if err != nil {
			if !payBy.IsZero() && isTimeout(err) && !time.Now().Before(payBy) {
				return fmt.Errorf("%w: %v", ErrPayTimeout, err)
			}
			if isTimeout(err) && !b.c.inFrame && ctx.Err() == nil {
				continue // waiting between frames: idle only if the target is quiet too
			}
			if ferr := frameErr(err); ferr != nil {
				return ferr
			}
			return err
		}
		b.touch()
		switch typ {
		case tEOF:
			if tcp, ok := b.target.(*net.TCPConn); ok {
				_ = tcp.CloseWrite()
			}
			b.upEOF.Store(true)
			if b.downDone.Load() {
				return nil
			}
		case tData:
			if b.upEOF.Load() {
				return fmt.Errorf("%w: data after EOF", ErrProtocol)
			}
			n := uint64(len(body))
			b.mu.Lock()
			sent, granted := b.m.usage.BytesIn+n, b.granted
			over := sent > granted
			if !over { // the grant reserved these units: spend them
				b.m.usage.BytesIn += n
				b.m.usage.Units += n
			}
			b.mu.Unlock()
			if over {
				return fmt.Errorf("%w: buyer sent past its grant: %d bytes of %d granted", ErrProtocol, sent, granted)
			}
			_ = b.target.SetWriteDeadline(time.Now().Add(b.t.cfg.StreamTimeout))
			if _, err := b.target.Write(body); err != nil {
				return fmt.Errorf("transport: bandwidth: write target: %w", err)
			}
		case tWant:
			want, err := decodeU64("WANT", body)
			if err != nil {
				return err
			}
			b.mu.Lock()
			// A grant reserves the buyer's own credit; asking far ahead
			// only holds back its own download.
			b.wanted = max(b.wanted, want)
			grew, short := b.grantLocked()
			granted, used, credit := b.granted, b.m.usage.Units, b.m.credit
			b.mu.Unlock()
			if err := b.afterGrant(grew, short, granted, used, credit, &payBy); err != nil {
				return err
			}
		case tPay:
			// The swap runs without b.mu: the download goes on spending
			// the credit left while the mint answers (the buyer pays
			// ahead of need).
			b.mu.Lock()
			sofar := b.m.usage
			b.mu.Unlock()
			units, err := b.m.redeemUnits(ctx, body, sofar)
			b.mu.Lock()
			if err == nil {
				b.m.addCredit(units)
			}
			grew, short := b.grantLocked()
			granted, used, credit := b.granted, b.m.usage.Units, b.m.credit
			b.mu.Unlock()
			if err != nil {
				return err
			}
			select {
			case b.credits <- struct{}{}:
			default:
			}
			if err := b.write(rCredit, u64s(credit)); err != nil {
				return err
			}
			payBy = time.Time{} // paid: a new pause point gets its own PayTimeout
			if err := b.afterGrant(grew, short, granted, used, credit, &payBy); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: bandwidth frame %#x", ErrProtocol, typ)
		}
	}
}

// afterGrant tells the buyer its new grant, and asks for payment (once per
// pause point) when its WANT is not covered.
func (b *bwSession) afterGrant(grew bool, short, granted, used, credit uint64, payBy *time.Time) error {
	if grew {
		if err := b.write(rGrant, u64s(granted)); err != nil {
			return err
		}
	}
	if short == 0 {
		*payBy = time.Time{}
		return nil
	}
	if !payBy.IsZero() {
		return nil // already asked
	}
	*payBy = time.Now().Add(b.t.cfg.PayTimeout)
	// Any unit lets data move again (grants may be partial), so the step
	// size is the payer's choice.
	return b.write(rNeedPay, u64s(used, credit, 1))
}

// pause is the pause point of target -> buyer: it returns once some credit
// is free, asking the buyer to pay while there is none (need 1: what the
// credit covers is forwarded, so any unit lets data move). It returns false
// when the session is ending.
func (b *bwSession) pause(ctx context.Context) (bool, error) {
	for {
		b.mu.Lock()
		avail := b.availLocked()
		b.mu.Unlock()
		if avail > 0 {
			return true, nil
		}
		select { // drop a stale credit signal, then look again
		case <-b.credits:
		default:
		}
		b.mu.Lock()
		avail, used, credit := b.availLocked(), b.m.usage.Units, b.m.credit
		b.mu.Unlock()
		if avail > 0 {
			return true, nil
		}
		if err := b.write(rNeedPay, u64s(used, credit, 1)); err != nil {
			return false, err
		}
		timer := time.NewTimer(b.t.cfg.PayTimeout)
		select {
		case <-b.credits:
			timer.Stop()
		case <-timer.C:
			return false, ErrPayTimeout
		case <-ctx.Done():
			timer.Stop()
			return false, nil
		}
	}
}

// down carries target -> buyer. It reads at most what the credit covers,
// forwards what the credit still covers after the read (the buyer's grants
// may have taken some meanwhile) and holds the rest at the pause point.
func (b *bwSession) down(ctx context.Context) error {
	// The target's bytes are read in after room for bwBatch frame headers,
	// then laid out as up to bwBatch DATA frames (each chunk moved in front
	// of the next header's room), and the frames the credit covers go to
	// the stream in one write: one yamux message, one handoff to its send
	// loop and one socket write per bwBatch frames. A frame that starts in
	// the middle of a chunk has its header written over bytes already
	// sent.
	const slot = frame.HeaderSize + bwFrameData
	buf := make([]byte, bwBatch*slot)
	for {
		if ok, err := b.pause(ctx); !ok {
			return err
		}
		b.mu.Lock()
		n := min(uint64(bwBatch*bwFrameData), b.availLocked())
		b.mu.Unlock()
		if n == 0 {
			continue // the buyer's grant took it: pause again
		}
		_ = b.target.SetReadDeadline(b.idleAt())
		in := bwBatch * frame.HeaderSize
		nr, err := b.target.Read(buf[in : in+int(n)])
		if nr > 0 {
			b.touch()
		}
		chunks := (nr + bwFrameData - 1) / bwFrameData
		for i := range chunks { // left to right: a move never overwrites a chunk not yet moved
			copy(buf[i*slot+frame.HeaderSize:], buf[in+i*bwFrameData:in+min((i+1)*bwFrameData, nr)])
		}
		chunkLen := func(i int) int { return min(bwFrameData, nr-i*bwFrameData) }
		for i, off := 0, 0; i < chunks; {
			k := int(b.spendDown(uint64(nr - i*bwFrameData - off)))
			if k == 0 {
				if ok, perr := b.pause(ctx); !ok {
					return perr
				}
				continue
			}
			start := i*slot + off // the first frame's header room
			end := start
			for k > 0 {
				take := min(k, chunkLen(i)-off)
				frame.PutHeader(buf[i*slot+off:], tData, take)
				end = i*slot + frame.HeaderSize + off + take
				k -= take
				if off += take; off == chunkLen(i) {
					i, off = i+1, 0
				}
			}
			if werr := b.writeFrames(buf[start:end]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			if err := b.write(tEOF); err != nil {
				return err
			}
			b.downDone.Store(true)
			if b.upEOF.Load() {
				_ = b.c.s.SetReadDeadline(time.Now()) // wake up()
			}
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if isTimeout(err) {
				if time.Now().Before(b.idleAt()) {
					continue // the buyer is sending: wait on
				}
				return b.errIdle()
			}
			return fmt.Errorf("transport: bandwidth: read target: %w", err)
		}
	}
}
