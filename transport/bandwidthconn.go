package transport

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

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
	usage     Usage         // BytesIn = sent by us, BytesOut = received
	credit    uint64        // the provider's credit, as last told
	credits   uint64        // CREDIT frames received (one answers each PAY)
	lastStep  uint64        // units the last redeemed payment added to the credit (at first, a StepPayer's step)
	ahead     bool          // a payment ahead is being made
	declined  bool          // the payer declined a payment ahead: make no more
	granted   uint64        // cumulative bytes we may send
	wanted    uint64        // cumulative bytes we asked to send
	changed   chan struct{} // closed on every change of the fields above or err
	err       error
	payErr    error // the Payer refused: the session ends once no Write has granted bytes left
	writing   int   // Writes in progress
	payMu     sync.Mutex
	readQ     chan *[]byte // DATA bodies, in buffers from bwBufs (or larger)
	pending   []byte       // what Read has not returned yet of pendBuf
	pendBuf   *[]byte
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
	sess, err := encodeSession(marketSession(payer, p))
	if err != nil {
		return nil, err
	}
	s, err := t.newStream(ctx, p, BandwidthProtocol)
	if err != nil {
		return nil, err
	}
	c := newConn(s, maxBwFrame, t.cfg.StreamTimeout)
	stop := c.watch(ctx)
	defer stop()
	err = c.write(tSession, sess)
	if err == nil {
		err = c.write(tConnect, []byte(target))
	}
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("transport: bandwidth connect: %w", ctxErr(ctx, err))
	}
	typ, body, err := c.read(t.cfg.StreamTimeout)
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("transport: bandwidth connect: %w", ctxErr(ctx, err))
	}
	if typ == rErr {
		_ = s.Reset()
		return nil, fmt.Errorf("transport: bandwidth connect %s: %w", target, decodeRemoteError(body))
	}
	if typ != rOK {
		_ = s.Reset()
		return nil, fmt.Errorf("%w: answer %#x to CONNECT", ErrProtocol, typ)
	}
	credit, err := decodeU64("CONNECT answer", body)
	if err != nil {
		_ = s.Reset()
		return nil, err
	}
	bc := &BandwidthConn{
		t: t, c: c, payer: payer, provider: p.String(), target: target,
		credit: credit, changed: make(chan struct{}),
		readQ: make(chan *[]byte, 64), done: make(chan struct{}),
	}
	if sp, ok := payer.(StepPayer); ok {
		bc.lastStep = sp.StepUnits() // pay the first step ahead too
	}
	bc.wg.Add(1)
	go bc.readLoop()
	return bc, nil
}

// notifyLocked wakes everyone waiting on a change (bc.mu held).
func (bc *BandwidthConn) notifyLocked() {
	close(bc.changed)
	bc.changed = make(chan struct{})
}

func (bc *BandwidthConn) fail(err error) {
	bc.mu.Lock()
	if bc.err == nil {
		bc.err = err
	}
	bc.notifyLocked()
	bc.mu.Unlock()
}

func (bc *BandwidthConn) setCredit(v uint64) {
	bc.mu.Lock()
	if v > bc.credit {
		bc.lastStep = v - bc.credit
	}
	bc.credit = max(bc.credit, v)
	bc.credits++
	bc.notifyLocked()
	bc.mu.Unlock()
}

// payAheadLocked starts a payment ahead (an Invoice with Need 0) when less
// than half of the last step's credit is left (before the first step, half
// of a StepPayer's step), so the next step is redeemed
// before the data stops at the provider's pause point: a mint swap each
// way no longer stalls the connection. At most one is in flight; once the
// payer declines one (its cap is near), the pause points pay the rest.
// bc.mu held.
func (bc *BandwidthConn) payAheadLocked() {
	if bc.payer == nil || bc.ahead || bc.declined || bc.lastStep == 0 || bc.err != nil || bc.payErr != nil {
		return
	}
	select {
	case <-bc.done: // closed: Close may be waiting for wg already
		return
	default:
	}
	used := bc.usage.Units
	if bc.credit > used && bc.credit-used >= bc.lastStep/2 {
		return
	}
	bc.ahead = true
	inv := Invoice{Used: used, Credit: bc.credit}
	bc.wg.Add(1)
	go func() {
		defer bc.wg.Done()
		declined, err := bc.payStep(inv)
		bc.mu.Lock()
		bc.ahead = false
		bc.declined = bc.declined || declined
		bc.mu.Unlock()
		if err != nil {
			bc.payFailed(err)
		}
	}()
}

func (bc *BandwidthConn) setGrant(v uint64) {
	bc.mu.Lock()
	bc.granted = max(bc.granted, v)
	bc.notifyLocked()
	bc.mu.Unlock()
}

func (bc *BandwidthConn) readLoop() {
	defer bc.wg.Done()
	eof := false
	closeQ := sync.OnceFunc(func() { close(bc.readQ) })
	defer closeQ()
	var bp *[]byte // the buffer the next DATA body is read into
	for {
		if bp == nil {
			bp = bwBufs.Get().(*[]byte)
		}
		typ, body, err := bc.c.readInto(bc.t.cfg.IdleTimeout, (*bp)[:0])
		if err != nil {
			if ferr := frameErr(err); ferr != nil {
				err = ferr
			}
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
			bc.payAheadLocked()
			bc.mu.Unlock()
			out := bp
			if len(body) > cap(*bp) { // larger than a provider sends: not in bp
				b := append([]byte(nil), body...)
				out = &b
			} else {
				*bp, bp = body, nil // Read returns it to bwBufs
			}
			select {
			case bc.readQ <- out:
			case <-bc.done:
				return
			}
		case rCredit:
			v, err := decodeU64("CREDIT", body)
			if err != nil {
				bc.fail(err)
				return
			}
			bc.setCredit(v)
		case rGrant:
			v, err := decodeU64("GRANT", body)
			if err != nil {
				bc.fail(err)
				return
			}
			bc.setGrant(v)
		case rNeedPay:
			used, credit, need, err := decodeNeedPay(body)
			if err != nil {
				bc.fail(err)
				return
			}
			bc.wg.Add(1)
			go func() {
				defer bc.wg.Done()
				if _, err := bc.payStep(Invoice{Used: used, Credit: credit, Need: need}); err != nil {
					bc.payFailed(err)
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

// payFailed ends the session after a failed payment step, but not while a
// Write is still sending bytes already granted (paid for): that Write ends
// the session when its grant runs out.
func (bc *BandwidthConn) payFailed(err error) {
	bc.mu.Lock()
	if bc.payErr == nil {
		bc.payErr = err
	}
	wait := bc.writing > 0 && bc.granted > bc.usage.BytesIn
	bc.notifyLocked()
	bc.mu.Unlock()
	if !wait {
		bc.end(err)
	}
}

// end fails the session with err and resets the stream.
func (bc *BandwidthConn) end(err error) {
	bc.fail(err)
	_ = bc.c.s.Reset()
}

// payStep makes one payment step unless credit has grown since inv was
// issued (a payment made meanwhile answers it; if it did not cover the
// need, the provider asks again), and waits for the provider's CREDIT
// answer (which may grant nothing: the provider then asks again). inv.Need
// 0 is a payment ahead, which the payer may decline (declined, no error).
func (bc *BandwidthConn) payStep(inv Invoice) (declined bool, err error) {
	bc.payMu.Lock()
	defer bc.payMu.Unlock()
	bc.mu.Lock()
	if bc.credit > inv.Credit {
		bc.mu.Unlock()
		return false, nil
	}
	before := bc.credits
	bc.mu.Unlock()
	inv.Protocol = BandwidthProtocol
	inv.Provider = bc.c.s.Conn().RemotePeer()
	ctx, cancel := context.WithTimeout(context.Background(), bc.t.cfg.PayTimeout)
	defer cancel()
	if bc.payer == nil {
		return false, fmt.Errorf("%w: provider wants payment and no payer is set", ErrPaymentRefused)
	}
	tok, err := bc.payer.Pay(ctx, inv)
	if err != nil {
		return false, fmt.Errorf("transport: pay: %w", err)
	}
	if len(tok) == 0 && inv.Need == 0 {
		return true, nil
	}
	if len(tok) > MaxTokenSize {
		return false, fmt.Errorf("%w: payment token", ErrTooLarge)
	}
	bc.wmu.Lock()
	err = bc.c.write(tPay, tok)
	bc.wmu.Unlock()
	if err != nil {
		return false, err
	}
	for {
		bc.mu.Lock()
		credited, ferr, changed := bc.credits > before, bc.err, bc.changed
		bc.mu.Unlock()
		if credited {
			return false, nil
		}
		if ferr != nil {
			return false, ferr
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false, ErrPayTimeout
		case <-bc.done:
			return false, net.ErrClosed
		}
	}
}

// Write sends p to the target. It sends only what the provider granted,
// asking for more ahead of need (WANT); when the credit is used up it waits
// while the Payer pays at the provider's pause point.
func (bc *BandwidthConn) Write(p []byte) (int, error) {
	bc.mu.Lock()
	bc.writing++
	bc.mu.Unlock()
	defer func() {
		bc.mu.Lock()
		bc.writing--
		payErr := bc.payErr
		bc.mu.Unlock()
		if payErr != nil {
			bc.end(payErr)
		}
	}()
	written := 0
	for len(p) > 0 {
		select {
		case <-bc.done:
			return written, net.ErrClosed
		default:
		}
		bc.mu.Lock()
		err, wdl, changed := bc.err, bc.writeDL, bc.changed
		avail := bc.granted - bc.usage.BytesIn
		step := min(uint64(len(p)), bwWantWindow)
		want := bc.usage.BytesIn + step
		// Ask when the grant runs out, or half a step early so a large
		// write does not stop at each grant.
		ask := want > bc.wanted && (avail == 0 || want >= bc.wanted+step/2)
		expired := !wdl.IsZero() && !time.Now().Before(wdl)
		n := min(uint64(len(p)), uint64(bwFrameData), avail)
		if err == nil && avail == 0 && bc.payErr != nil {
			err = bc.payErr // granted bytes all sent, and no more are coming
		}
		if err != nil || expired {
			ask, n = false, 0
		}
		if ask {
			bc.wanted = want
		}
		bc.usage.BytesIn += n
		bc.usage.Units += n
		if n > 0 {
			bc.payAheadLocked()
		}
		bc.mu.Unlock()
		if err != nil {
			return written, err
		}
		if expired {
			return written, timeoutError{}
		}
		if ask {
			bc.wmu.Lock()
			err = bc.c.write(tWant, u64s(want))
			bc.wmu.Unlock()
			if err != nil {
				bc.fail(err)
				return written, err
			}
		}
		if n == 0 {
			if err := bc.waitChange(changed, wdl); err != nil {
				return written, err
			}
			continue
		}
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

// waitChange waits for a grant, credit or error (changed closed), for
// Close, or for the write deadline dl. The provider bounds the wait: it
// ends the session when a pause point is not paid within its PayTimeout.
func (bc *BandwidthConn) waitChange(changed <-chan struct{}, dl time.Time) error {
	var timeout <-chan time.Time
	if !dl.IsZero() {
		timer := time.NewTimer(time.Until(dl))
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case <-changed:
		return nil
	case <-timeout:
		return timeoutError{}
	case <-bc.done:
		return net.ErrClosed
	}
}

// Read reads bytes the target sent.
func (bc *BandwidthConn) Read(p []byte) (int, error) {
	if err := bc.fill(); err != nil {
		return 0, err
	}
	n := copy(p, bc.pending)
	bc.consumed(n)
	return n, nil
}

// WriteTo writes what the target sends to w until the target closes its
// side. io.Copy uses it: each DATA body goes to w straight from the buffer
// it was read into, and the bodies already queued behind it (up to
// maxGather) go with it in one write (writev to a TCP connection), so a
// consumer that falls behind catches up in fewer system calls.
func (bc *BandwidthConn) WriteTo(w io.Writer) (int64, error) {
	var total int64
	bufs := make(net.Buffers, 0, maxGather)
	held := make([]*[]byte, 0, maxGather)
	for {
		if err := bc.fill(); err != nil {
			if err == io.EOF {
				err = nil
			}
			return total, err
		}
		bufs = append(bufs[:0], bc.pending)
		held = held[:0]
	gather:
		for len(bufs) < maxGather {
			select {
			case bp, ok := <-bc.readQ:
				if !ok {
					break gather // fill sees the close next time
				}
				bufs, held = append(bufs, *bp), append(held, bp)
			default:
				break gather
			}
		}
		if len(bufs) == 1 {
			n, err := w.Write(bc.pending)
			total += int64(n)
			bc.consumed(n)
			if err != nil {
				return total, err
			}
			continue
		}
		v := bufs // WriteTo consumes v; bufs keeps its array
		n, err := v.WriteTo(w)
		total += n
		bc.consumed(len(bc.pending))
		for _, bp := range held {
			putBwBuf(bp)
		}
		if err != nil {
			return total, err
		}
	}
}

// maxGather bounds how many queued DATA bodies WriteTo writes at once.
const maxGather = 8

// fill waits, if nothing is pending, for the next DATA body (until the
// read deadline).
func (bc *BandwidthConn) fill() error {
	if len(bc.pending) > 0 {
		return nil
	}
	var timeout <-chan time.Time
	bc.mu.Lock()
	dl := bc.readDL
	bc.mu.Unlock()
	if !dl.IsZero() {
		d := time.Until(dl)
		if d <= 0 {
			return timeoutError{}
		}
		timer := time.NewTimer(d)
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case bp, ok := <-bc.readQ:
		if !ok {
			bc.mu.Lock()
			err := bc.err
			bc.mu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return err
		}
		bc.pending, bc.pendBuf = *bp, bp
		return nil
	case <-timeout:
		return timeoutError{}
	case <-bc.done:
		return net.ErrClosed
	}
}

// consumed drops n pending bytes, returning the buffer to bwBufs once
// all of it is read.
func (bc *BandwidthConn) consumed(n int) {
	bc.pending = bc.pending[n:]
	if len(bc.pending) == 0 && bc.pendBuf != nil {
		putBwBuf(bc.pendBuf)
		bc.pendBuf = nil
	}
}

// putBwBuf gives a DATA body's buffer back to bwBufs (unless it is one of
// the larger ones readLoop allocates for an oversized body).
func putBwBuf(bp *[]byte) {
	if cap(*bp) == bwFrameData {
		*bp = (*bp)[:0]
		bwBufs.Put(bp)
	}
}

// bwBufs holds buffers for DATA bodies between BandwidthConn's readLoop,
// which reads a frame into one, and Read, which gives it back once read:
// a download allocates (and the kernel faults in) no fresh memory per frame.
var bwBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, bwFrameData)
	return &b
}}

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
		// Under mu: a payment ahead (started under mu) is either counted
		// in wg before this, or sees done closed and does not start.
		bc.mu.Lock()
		close(bc.done)
		bc.mu.Unlock()
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
	bc.notifyLocked() // a Write waiting for a grant looks again
	bc.mu.Unlock()
	return nil
}

type bwAddr string

func (a bwAddr) Network() string { return "sovmesh" }
func (a bwAddr) String() string  { return string(a) }
