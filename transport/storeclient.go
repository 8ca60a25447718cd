package transport

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/store"
)

// maxIdleSessions bounds the idle storage streams kept per provider.
const maxIdleSessions = 16

// sessionPool keeps idle storage streams to one provider for reuse.
type sessionPool struct {
	mu   sync.Mutex
	idle []*conn
	// paying counts this buyer's payments to the provider in progress;
	// paidAt is when the last one was sent (Unix ns). See readAnswer.
	paying atomic.Int32
	paidAt atomic.Int64
}

// paidWithin reports whether a payment to the provider is in progress or
// was sent less than d ago.
func (p *sessionPool) paidWithin(d time.Duration) bool {
	return p.paying.Load() > 0 || time.Since(time.Unix(0, p.paidAt.Load())) < d
}

// pay answers a pause point on c, recording the payment in flight.
func (p *sessionPool) pay(ctx context.Context, c *conn, payer Payer, inv Invoice) error {
	p.paying.Add(1)
	defer func() {
		p.paidAt.Store(time.Now().UnixNano())
		p.paying.Add(-1)
	}()
	return payStep(ctx, c, payer, inv)
}

func (p *sessionPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.s.Reset()
	}
}

// poolKey names the storage streams of one buyer with one provider in one
// market session: a stream names its session when it opens, so only
// streams of the same session are reused (buyer side) or share a credit
// account (provider side).
type poolKey struct {
	peer   peer.ID
	market string
}

func (t *Host) pool(k poolKey) *sessionPool {
	t.sessMu.Lock()
	defer t.sessMu.Unlock()
	sp := t.sessions[k]
	if sp == nil {
		sp = &sessionPool{}
		t.sessions[k] = sp
	}
	return sp
}

func (t *Host) takeConn(ctx context.Context, k poolKey) (*conn, error) {
	sp := t.pool(k)
	for {
		sp.mu.Lock()
		n := len(sp.idle)
		if n == 0 {
			sp.mu.Unlock()
			break
		}
		c := sp.idle[n-1]
		sp.idle = sp.idle[:n-1]
		sp.mu.Unlock()
		if c.idleAlive() {
			return c, nil
		}
		// The provider ended it while it sat in the pool (its idle
		// timeout, a restart): a request on it would fail.
		_ = c.s.Reset()
	}
	return t.dialConn(ctx, k)
}

// dialConn opens a storage stream in k's market session.
func (t *Host) dialConn(ctx context.Context, k poolKey) (*conn, error) {
	sess, err := encodeSession(k.market)
	if err != nil {
		return nil, err
	}
	s, err := t.newStream(ctx, k.peer, StorageProtocol)
	if err != nil {
		return nil, err
	}
	c := newConn(s, maxStorageFrame, t.cfg.StreamTimeout)
	if err := t.openSession(ctx, c, sess); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("transport: storage session with %s: %w", k.peer, err)
	}
	return c, nil
}

// openSession names the stream's market session to the provider and waits
// for its OK, so that a refusal (ErrSessionRefused, a payment refused)
// arrives as the provider's ERR before any request is sent.
func (t *Host) openSession(ctx context.Context, c *conn, sess []byte) error {
	stop := c.watch(ctx)
	defer stop()
	if err := c.write(tSession, sess); err != nil {
		return ctxErr(ctx, err)
	}
	typ, body, err := c.read(t.cfg.StreamTimeout)
	switch {
	case err != nil:
		return ctxErr(ctx, err)
	case typ == rErr:
		return decodeRemoteError(body)
	case typ != rOK || len(body) != 0:
		return fmt.Errorf("%w: answer %#x of %d bytes to SESSION", ErrProtocol, typ, len(body))
	}
	return nil
}

// CheckSession opens a new storage stream to provider p naming market
// session market and keeps it for the session's requests. It fails
// (wrapping ErrSessionRefused) if p does not hold market open for us, and
// then closes the session's idle streams (opened while it was): a buyer
// resuming a put checks so that it names the interrupted put's sessions
// only while they are open.
func (t *Host) CheckSession(ctx context.Context, p peer.ID, market string) error {
	k := poolKey{peer: p, market: market}
	c, err := t.dialConn(ctx, k)
	if err != nil {
		t.EndSession(p, market)
		return err
	}
	t.returnConn(k, c, true)
	return nil
}

// EndSession closes the idle storage streams to provider p in market
// session market (the buyer is done with it). The provider ends the
// session's credit account once its last stream is gone and keeps the
// unused credit for the buyer's next streams, in whichever session; until
// then that credit serves only the session's own streams.
func (t *Host) EndSession(p peer.ID, market string) {
	k := poolKey{peer: p, market: market}
	t.sessMu.Lock()
	sp := t.sessions[k]
	delete(t.sessions, k)
	t.sessMu.Unlock()
	if sp == nil {
		return
	}
	sp.mu.Lock()
	idle := sp.idle
	sp.idle = nil
	sp.mu.Unlock()
	for _, c := range idle {
		_ = c.s.Close()
	}
}

func (t *Host) returnConn(k poolKey, c *conn, healthy bool) {
	if !healthy || t.ctx.Err() != nil {
		_ = c.s.Reset()
		return
	}
	sp := t.pool(k)
	sp.mu.Lock()
	if len(sp.idle) < maxIdleSessions {
		sp.idle = append(sp.idle, c)
		c = nil
	}
	sp.mu.Unlock()
	if c != nil {
		_ = c.s.Close()
	}
}

// StorageClient talks the storage protocol to one provider. It is safe for
// concurrent use; concurrent calls use separate streams.
type StorageClient struct {
	t     *Host
	k     poolKey
	p     peer.ID
	payer Payer
}

// Storage returns a client for provider p. payer answers the provider's
// pause points; it may be nil if the provider is free. The client's streams
// name the market session of payer, if it is a SessionPayer (else none).
func (t *Host) Storage(p peer.ID, payer Payer) *StorageClient {
	return &StorageClient{t: t, k: poolKey{peer: p, market: marketSession(payer, p)}, p: p, payer: payer}
}

// roundTrip sends one request and returns the answer, paying at pause
// points. Remote errors come back as *RemoteError; other errors break the
// stream.
func (sc *StorageClient) roundTrip(ctx context.Context, typ byte, parts [][]byte, fn func(rtyp byte, body []byte) error) error {
	return sc.roundTripInto(ctx, typ, parts, nil, fn)
}

// roundTripInto is roundTrip, reading the answer's body into into's spare
// capacity when it fits.
func (sc *StorageClient) roundTripInto(ctx context.Context, typ byte, parts [][]byte, into []byte, fn func(rtyp byte, body []byte) error) error {
	c, err := sc.t.takeConn(ctx, sc.k)
	if err != nil {
		return err
	}
	stop := c.watch(ctx)
	healthy := false
	defer func() {
		healthy = stop() && healthy
		sc.t.returnConn(sc.k, c, healthy)
	}()
	if err := c.write(typ, parts...); err != nil {
		return fmt.Errorf("transport: storage request to %s: %w", sc.p, ctxErr(ctx, err))
	}
	sp := sc.t.pool(sc.k)
	for range 65 {
		rtyp, body, err := sc.readAnswer(ctx, c, sp, into)
		if err != nil {
			return fmt.Errorf("transport: storage answer from %s: %w", sc.p, ctxErr(ctx, err))
		}
		switch rtyp {
		case rNeedPay:
			used, credit, need, err := decodeNeedPay(body)
			if err != nil {
				return err
			}
			inv := Invoice{Provider: sc.p, Protocol: StorageProtocol, Used: used, Credit: credit, Need: need}
			if err := sp.pay(ctx, c, sc.payer, inv); err != nil {
				return err
			}
			continue
		case rErr:
			healthy = true
			return decodeRemoteError(body)
		}
		if err := fn(rtyp, body); err != nil {
			return err
		}
		healthy = true
		return nil
	}
	return fmt.Errorf("%w: too many payment steps", ErrProtocol)
}

// maxPaymentWaits bounds how many stream timeouts readAnswer waits.
const maxPaymentWaits = 64

// readAnswer reads the answer (or the NEEDPAY) to a request on c. A
// provider serves a request past the credit only once the payment in
// flight is redeemed, and that payment may be one another of this buyer's
// streams to it is making (a payment ahead): the request then waits for
// the buyer's payment and the provider's redemption, which may together
// outlast a stream timeout. So while a payment to the provider is in
// progress or was sent less than a stream timeout ago, a timeout waiting
// for the answer to start is not the provider's silence, and the read
// goes on: as long as a stream at its own pause point waits (a stream
// timeout after its payment is sent).
func (sc *StorageClient) readAnswer(ctx context.Context, c *conn, sp *sessionPool, into []byte) (byte, []byte, error) {
	for range maxPaymentWaits {
		rtyp, body, err := c.readInto(sc.t.cfg.StreamTimeout, into)
		if err == nil || !isTimeout(err) || c.inFrame || ctx.Err() != nil || !sp.paidWithin(sc.t.cfg.StreamTimeout) {
			return rtyp, body, err
		}
	}
	return 0, nil, fmt.Errorf("%w: no answer over %d stream timeouts of payments", ErrProtocol, maxPaymentWaits)
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

func expectOK(n int) func(byte, []byte) error {
	return func(typ byte, body []byte) error {
		if typ != rOK || len(body) != n {
			return fmt.Errorf("%w: answer %#x of %d bytes", ErrProtocol, typ, len(body))
		}
		return nil
	}
}

// Put stores ciphertext data under its CID c.
func (sc *StorageClient) Put(ctx context.Context, c chunk.CID, data []byte) error {
	if len(data) > store.MaxChunk {
		return fmt.Errorf("put %s: %w: chunk of %d bytes, limit %d", c, ErrTooLarge, len(data), store.MaxChunk)
	}
	if err := sc.roundTrip(ctx, tPut, [][]byte{c[:], data}, expectOK(0)); err != nil {
		return fmt.Errorf("put %s: %w", c, err)
	}
	return nil
}

// Get fetches chunk c, appending it to buf, and checks that it hashes to c.
func (sc *StorageClient) Get(ctx context.Context, c chunk.CID, buf []byte) ([]byte, error) {
	return sc.get(ctx, c, buf, true)
}

// get fetches chunk c into buf. Without verify the caller authenticates
// the data itself (a sealed data chunk: GCM under its index).
func (sc *StorageClient) get(ctx context.Context, c chunk.CID, buf []byte, verify bool) ([]byte, error) {
	spare := buf[len(buf):]
	err := sc.roundTripInto(ctx, tGet, [][]byte{c[:]}, spare, func(typ byte, body []byte) error {
		if typ != rData {
			return fmt.Errorf("%w: answer %#x to get", ErrProtocol, typ)
		}
		if verify && chunk.Sum(body) != c {
			return fmt.Errorf("%w: provider %s served other data for %s", ErrCIDMismatch, sc.p, c)
		}
		if len(body) > 0 && cap(spare) >= len(body) && &body[0] == &spare[:1][0] {
			buf = buf[:len(buf)+len(body)] // read in place
		} else {
			buf = append(buf, body...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", c, err)
	}
	return buf, nil
}

// Has reports whether the provider holds chunk c.
func (sc *StorageClient) Has(ctx context.Context, c chunk.CID) (bool, error) {
	var has bool
	err := sc.roundTrip(ctx, tHas, [][]byte{c[:]}, func(typ byte, body []byte) error {
		if err := expectOK(1)(typ, body); err != nil {
			return err
		}
		has = body[0] == 1
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("has %s: %w", c, err)
	}
	return has, nil
}

// Delete asks the provider to delete chunk c, authorized by a signature of
// this host's Nostr key valid for one minute.
func (sc *StorageClient) Delete(ctx context.Context, c chunk.CID) error {
	expiry := time.Now().Add(time.Minute).Unix()
	sig, err := signDelete(sc.t.priv, sc.p, c, expiry)
	if err != nil {
		return err
	}
	return sc.DeleteSigned(ctx, c, sc.t.pubkey, expiry, sig)
}

// DeleteSigned sends a delete authorized by owner's signature sig (see
// SignDelete), for owners that sign elsewhere.
func (sc *StorageClient) DeleteSigned(ctx context.Context, c chunk.CID, owner [32]byte, expiry int64, sig []byte) error {
	err := sc.roundTrip(ctx, tDelete, [][]byte{c[:], encodeDelete(owner, expiry, sig)}, expectOK(0))
	if err != nil {
		return fmt.Errorf("delete %s: %w", c, err)
	}
	return nil
}

// Prove asks the provider for SHA-256(chunk || challenge).
func (sc *StorageClient) Prove(ctx context.Context, c chunk.CID, challenge [32]byte) ([32]byte, error) {
	var out [32]byte
	err := sc.roundTrip(ctx, tProve, [][]byte{c[:], challenge[:]}, func(typ byte, body []byte) error {
		if err := expectOK(32)(typ, body); err != nil {
			return err
		}
		out = [32]byte(body)
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("prove %s: %w", c, err)
	}
	return out, nil
}
