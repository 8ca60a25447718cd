package transport

import (
	"context"
	"encoding/binary"
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
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// BandwidthProtocol carries one TCP connection of the buyer through the
// provider. The buyer sends CONNECT host:port; the provider dials it and
// answers OK credit[8]. Then both sides exchange DATA frames; the provider
// counts carried bytes both ways as units. When the credit is used up the
// provider stops reading from the target and sends NEEDPAY; the buyer's
// writes block until its PAY frame is redeemed (CREDIT credit[8]). A buyer
// that sends more than its credit is cut off. Closing the write side is
// passed on as a TCP half-close.
const BandwidthProtocol protocol.ID = "/sovmesh/bandwidth/1.0.0"

const (
	tConnect byte = 0x20
	tData    byte = 0x21
	tEOF     byte = 0x22 // no more data from the sender (half-close)

	bwFrameData = 32 << 10
	maxBwFrame  = 1 + max(bwFrameData, MaxTokenSize)
	maxTarget   = 300
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

// publicOnly refuses connections to non-public IPs at connect time (after
// DNS resolution, so a name cannot rebind to a private address).
func publicOnly(_, address string, _ syscall.RawConn) error {
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
type bwSession struct {
	t        *Host
	c        *conn
	target   net.Conn
	m        *meter
	upEOF    atomic.Bool
	downDone atomic.Bool
	mu       sync.Mutex // guards m's counters
	wmu      sync.Mutex // serializes frame writes
	credits  chan struct{}
}

func (b *bwSession) write(typ byte, parts ...[]byte) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	return b.c.write(typ, parts...)
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
		return err
	}
	if typ != tConnect || len(body) == 0 || len(body) > maxTarget {
		return fail(fmt.Errorf("%w: want CONNECT host:port", ErrBadRequest))
	}
	target := string(body)
	if _, _, err := net.SplitHostPort(target); err != nil {
		return fail(fmt.Errorf("%w: target %q: %v", ErrBadRequest, target, err))
	}
	m, err := openMeter(ctx, cfg.Gate, BandwidthProtocol, s.Conn().RemotePeer())
	if err != nil {
		return fail(err)
	}
	defer func() { m.close(context.WithoutCancel(ctx)) }()
	d := net.Dialer{Timeout: cfg.DialTimeout}
	if !cfg.AllowPrivateTargets {
		d.Control = publicOnly
	}
	tc, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		if !errors.Is(err, ErrTargetNotAllowed) {
			err = fmt.Errorf("%w: %v", ErrTargetRefused, err)
		}
		return fail(err)
	}
	defer tc.Close()
	b := &bwSession{t: t, c: c, target: tc, m: m, credits: make(chan struct{}, 1)}
	if err := b.write(rOK, u64s(m.credit)); err != nil {
		return err
	}
	upc, downc := make(chan error, 1), make(chan error, 1)
	go func() { upc <- b.up(ctx) }()
	go func() { downc <- b.down(ctx) }()
	select {
	case err := <-downc:
		if err != nil {
			cancel()
			_ = tc.Close()
			<-upc
			return err
		}
		// The target is done sending; the buyer may still send, and pays
		// for what it sends.
		return <-upc
	case err := <-upc:
		cancel()
		_ = tc.Close()
		<-downc
		return err
	}
}

// errReported marks errors already sent to the buyer in an ERR frame: the
// stream is closed, not reset, so the frame arrives.
var errReported = errors.New("reported")

type reportedError struct{ err error }

func (e reportedError) Error() string   { return e.err.Error() }
func (e reportedError) Unwrap() []error { return []error{e.err, errReported} }

// up carries buyer -> target.
func (b *bwSession) up(ctx context.Context) error {
	for {
		typ, body, err := b.c.read(b.t.cfg.IdleTimeout)
		if b.upEOF.Load() && b.downDone.Load() {
			return nil // both directions finished
		}
		if err != nil {
			return err
		}
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
			over := b.m.usage.BytesIn+n > b.m.credit
			b.m.usage.BytesIn += n
			b.m.usage.Units += n
			b.mu.Unlock()
			if over {
				err := fmt.Errorf("%w: buyer sent past its credit", ErrPaymentRefused)
				_ = b.write(rErr, []byte{errCode(err)}, []byte(err.Error()))
				return err
			}
			_ = b.target.SetWriteDeadline(time.Now().Add(b.t.cfg.StreamTimeout))
			if _, err := b.target.Write(body); err != nil {
				return fmt.Errorf("transport: bandwidth: write target: %w", err)
			}
		case tPay:
			b.mu.Lock()
			err := b.m.redeem(ctx, body)
			credit := b.m.credit
			b.mu.Unlock()
			if err != nil {
				_ = b.write(rErr, []byte{errCode(err)}, []byte(err.Error()))
				return err
			}
			select {
			case b.credits <- struct{}{}:
			default:
			}
			if err := b.write(rCredit, u64s(credit)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: bandwidth frame %#x", ErrProtocol, typ)
		}
	}
}

// down carries target -> buyer, pausing when the credit is used up.
func (b *bwSession) down(ctx context.Context) error {
	buf := make([]byte, bwFrameData)
	for {
		b.mu.Lock()
		used, credit := b.m.usage.Units, b.m.credit
		b.mu.Unlock()
		if used >= credit {
			select { // drop a stale credit signal, then look again
			case <-b.credits:
			default:
			}
			b.mu.Lock()
			used, credit = b.m.usage.Units, b.m.credit
			b.mu.Unlock()
			if used < credit {
				continue
			}
			if err := b.write(rNeedPay, u64s(used, credit, 1)); err != nil {
				return err
			}
			timer := time.NewTimer(b.t.cfg.PayTimeout)
			select {
			case <-b.credits:
				timer.Stop()
				continue
			case <-timer.C:
				return ErrPayTimeout
			case <-ctx.Done():
				timer.Stop()
				return nil
			}
		}
		n := min(uint64(len(buf)), credit-used)
		_ = b.target.SetReadDeadline(time.Now().Add(b.t.cfg.IdleTimeout))
		nr, err := b.target.Read(buf[:n])
		if nr > 0 {
			b.mu.Lock()
			b.m.usage.BytesOut += uint64(nr)
			b.m.usage.Units += uint64(nr)
			b.mu.Unlock()
			if werr := b.write(tData, buf[:nr]); werr != nil {
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
			return fmt.Errorf("transport: bandwidth: read target: %w", err)
		}
	}
}

// BandwidthConn is a TCP connection carried through a provider. It
// implements net.Conn; Read and Write pause at the provider's pause points
// while the Payer pays.
type BandwidthConn struct {
	t        *Host
	c        *conn
	payer    Payer
	provider string
	target   string

	wmu sync.Mutex // frame writes

	mu        sync.Mutex
	usage     Usage // BytesIn = sent by us, BytesOut = received
	credit    uint64
	changed   chan struct{} // closed when credit changes
	err       error
	payMu     sync.Mutex
	readQ     chan []byte
	pending   []byte
	readDL    time.Time
	writeDL   time.Time
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// DialBandwidth opens a carried TCP connection to target (host:port)
// through provider p. payer answers pause points (nil if free).
func (t *Host) DialBandwidth(ctx context.Context, p peer.ID, target string, payer Payer) (*BandwidthConn, error) {
	if len(target) == 0 || len(target) > maxTarget {
		return nil, fmt.Errorf("%w: target %q", ErrBadRequest, target)
	}
	s, err := t.newStream(ctx, p, BandwidthProtocol)
	if err != nil {
		return nil, err
	}
	c := newConn(s, maxBwFrame, t.cfg.StreamTimeout)
	stop := c.watch(ctx)
	defer stop()
	if err := c.write(tConnect, []byte(target)); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("transport: bandwidth connect: %w", ctxErr(ctx, err))
	}
	typ, body, err := c.read(t.cfg.StreamTimeout)
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("transport: bandwidth connect: %w", ctxErr(ctx, err))
	}
	switch {
	case typ == rErr:
		_ = s.Reset()
		return nil, fmt.Errorf("transport: bandwidth connect %s: %w", target, decodeRemoteError(body))
	case typ != rOK || len(body) != 8:
		_ = s.Reset()
		return nil, fmt.Errorf("%w: answer %#x to CONNECT", ErrProtocol, typ)
	}
	bc := &BandwidthConn{
		t: t, c: c, payer: payer, provider: p.String(), target: target,
		credit: binary.BigEndian.Uint64(body), changed: make(chan struct{}),
		readQ: make(chan []byte, 64), done: make(chan struct{}),
	}
	bc.wg.Add(1)
	go bc.readLoop()
	return bc, nil
}

func (bc *BandwidthConn) fail(err error) {
	bc.mu.Lock()
	if bc.err == nil {
		bc.err = err
	}
	bc.mu.Unlock()
}

func (bc *BandwidthConn) setCredit(v uint64) {
	bc.mu.Lock()
	if v > bc.credit {
		bc.credit = v
	}
	close(bc.changed)
	bc.changed = make(chan struct{})
	bc.mu.Unlock()
}

func (bc *BandwidthConn) readLoop() {
	defer bc.wg.Done()
	eof := false
	closeQ := sync.OnceFunc(func() { close(bc.readQ) })
	defer closeQ()
	for {
		typ, body, err := bc.c.read(bc.t.cfg.IdleTimeout)
		if err != nil {
			if err != io.EOF {
				bc.fail(err)
			}
			return
		}
		switch typ {
		case tEOF:
			eof = true
			closeQ()
		case tData:
			if eof {
				bc.fail(fmt.Errorf("%w: data after EOF", ErrProtocol))
				_ = bc.c.s.Reset()
				return
			}
			bc.mu.Lock()
			bc.usage.BytesOut += uint64(len(body))
			bc.usage.Units += uint64(len(body))
			bc.mu.Unlock()
			select {
			case bc.readQ <- append([]byte(nil), body...):
			case <-bc.done:
				return
			}
		case rCredit:
			if len(body) != 8 {
				bc.fail(fmt.Errorf("%w: credit frame", ErrProtocol))
				return
			}
			bc.setCredit(binary.BigEndian.Uint64(body))
		case rNeedPay:
			used, credit, need, err := decodeNeedPay(body)
			if err != nil {
				bc.fail(err)
				return
			}
			bc.wg.Add(1)
			go func() {
				defer bc.wg.Done()
				if err := bc.pay(Invoice{Used: used, Credit: credit, Need: need}); err != nil {
					bc.fail(err)
					_ = bc.c.s.Reset()
				}
			}()
		case rErr:
			bc.fail(decodeRemoteError(body))
			_ = bc.c.s.Reset()
			return
		default:
			bc.fail(fmt.Errorf("%w: bandwidth frame %#x", ErrProtocol, typ))
			_ = bc.c.s.Reset()
			return
		}
	}
}

// pay makes one payment step unless credit has grown since inv was issued.
func (bc *BandwidthConn) pay(inv Invoice) error {
	bc.payMu.Lock()
	defer bc.payMu.Unlock()
	bc.mu.Lock()
	if bc.credit > inv.Credit && bc.credit > bc.usage.Units {
		bc.mu.Unlock()
		return nil
	}
	changed := bc.changed
	inv.Credit, inv.Used = bc.credit, bc.usage.Units
	bc.mu.Unlock()
	inv.Protocol = BandwidthProtocol
	inv.Provider = bc.c.s.Conn().RemotePeer()
	ctx, cancel := context.WithTimeout(context.Background(), bc.t.cfg.PayTimeout)
	defer cancel()
	if bc.payer == nil {
		return fmt.Errorf("%w: provider wants payment and no payer is set", ErrPaymentRefused)
	}
	tok, err := bc.payer.Pay(ctx, inv)
	if err != nil {
		return fmt.Errorf("transport: pay: %w", err)
	}
	if len(tok) > MaxTokenSize {
		return fmt.Errorf("%w: payment token", ErrTooLarge)
	}
	bc.wmu.Lock()
	err = bc.c.write(tPay, tok)
	bc.wmu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-changed:
		return nil
	case <-ctx.Done():
		return ErrPayTimeout
	case <-bc.done:
		return net.ErrClosed
	}
}

// Write sends p to the target, pausing to pay when the credit is used up.
func (bc *BandwidthConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		bc.mu.Lock()
		err, avail := bc.err, uint64(0)
		if bc.credit > bc.usage.Units {
			avail = bc.credit - bc.usage.Units
		}
		credit, used := bc.credit, bc.usage.Units
		wdl := bc.writeDL
		bc.mu.Unlock()
		if err != nil {
			return written, err
		}
		if !wdl.IsZero() && !time.Now().Before(wdl) {
			return written, timeoutError{}
		}
		select {
		case <-bc.done:
			return written, net.ErrClosed
		default:
		}
		if avail == 0 {
			if err := bc.pay(Invoice{Used: used, Credit: credit, Need: uint64(min(len(p), bwFrameData))}); err != nil {
				bc.fail(err)
				return written, err
			}
			continue
		}
		n := min(uint64(len(p)), uint64(bwFrameData), avail)
		bc.mu.Lock()
		bc.usage.BytesIn += n
		bc.usage.Units += n
		bc.mu.Unlock()
		bc.wmu.Lock()
		err = bc.c.write(tData, p[:n])
		bc.wmu.Unlock()
		if err != nil {
			bc.fail(err)
			return written, err
		}
		written += int(n)
		p = p[n:]
	}
	return written, nil
}

// Read reads bytes the target sent.
func (bc *BandwidthConn) Read(p []byte) (int, error) {
	if len(bc.pending) == 0 {
		var timeout <-chan time.Time
		bc.mu.Lock()
		dl := bc.readDL
		bc.mu.Unlock()
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, timeoutError{}
			}
			timer := time.NewTimer(d)
			defer timer.Stop()
			timeout = timer.C
		}
		select {
		case b, ok := <-bc.readQ:
			if !ok {
				bc.mu.Lock()
				err := bc.err
				bc.mu.Unlock()
				if err == nil {
					err = io.EOF
				}
				return 0, err
			}
			bc.pending = b
		case <-timeout:
			return 0, timeoutError{}
		case <-bc.done:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, bc.pending)
	bc.pending = bc.pending[n:]
	return n, nil
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "transport: bandwidth deadline exceeded" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// CloseWrite half-closes: the target sees EOF, replies still arrive (and
// are still paid for).
func (bc *BandwidthConn) CloseWrite() error {
	bc.wmu.Lock()
	defer bc.wmu.Unlock()
	return bc.c.write(tEOF)
}

// Close closes the carried connection and waits for its goroutines.
func (bc *BandwidthConn) Close() error {
	var err error
	bc.closeOnce.Do(func() {
		close(bc.done)
		err = bc.c.s.Reset()
		bc.wg.Wait()
	})
	return err
}

// Usage returns the bytes sent (BytesIn, as the provider counts them),
// received (BytesOut) and units so far.
func (bc *BandwidthConn) Usage() Usage {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	return bc.usage
}

// LocalAddr returns a placeholder address naming this host.
func (bc *BandwidthConn) LocalAddr() net.Addr { return bwAddr("sovmesh:" + bc.t.ID().String()) }

// RemoteAddr returns the target, carried by the provider.
func (bc *BandwidthConn) RemoteAddr() net.Addr { return bwAddr(bc.target + " via " + bc.provider) }

// SetDeadline sets the read and write deadlines.
func (bc *BandwidthConn) SetDeadline(t time.Time) error {
	_ = bc.SetReadDeadline(t)
	return bc.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for Read.
func (bc *BandwidthConn) SetReadDeadline(t time.Time) error {
	bc.mu.Lock()
	bc.readDL = t
	bc.mu.Unlock()
	return nil
}

// SetWriteDeadline sets the deadline for Write: a Write that has not
// started a frame by then fails with a timeout. The stream timeout still
// bounds each frame.
func (bc *BandwidthConn) SetWriteDeadline(t time.Time) error {
	bc.mu.Lock()
	bc.writeDL = t
	bc.mu.Unlock()
	return nil
}

type bwAddr string

func (a bwAddr) Network() string { return "sovmesh" }
func (a bwAddr) String() string  { return string(a) }
