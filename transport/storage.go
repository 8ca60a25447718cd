package transport

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/internal/frame"
	"github.com/sovmesh/sovmesh/transport/store"
)

// StorageProtocol is the blind chunk storage protocol. A stream opens with
// SESSION (the market session it is paid in: empty for none, or its
// 32-byte id), answered OK, or ERR (ErrSessionRefused: the provider does
// not know it as an open storage session of this buyer) before the
// provider closes the stream. Then it carries a sequence of requests, each
// answered before the next is read:
//
//	PUT    cid[32] data          -> OK
//	GET    cid[32]               -> DATA data
//	HAS    cid[32]               -> OK has[1]
//	DELETE cid[32] owner[32] expiry[8] sig[64] -> OK
//	PROVE  cid[32] challenge[32] -> OK sha256(chunk||challenge)[32]
//
// Any request may instead be answered with ERR code msg, or with NEEDPAY at
// a pause point, after which the buyer sends PAY token frames until the
// step is covered and the answer follows. Units are chunk bytes put or got,
// or what the gate's StoragePricer makes of them.
//
// (2.0.0: the SESSION frame; 1.0.0 streams were booked to the buyer's
// latest open session.)
const StorageProtocol protocol.ID = "/sovmesh/storage/2.0.0"

const (
	tPut    byte = 0x01
	tGet    byte = 0x02
	tHas    byte = 0x03
	tDelete byte = 0x04
	tProve  byte = 0x05
)

// maxStorageFrame bounds storage frames: the largest chunk plus its CID.
const maxStorageFrame = 1 + 32 + store.MaxChunk

// MaxDeleteValidity bounds how far in the future a delete authorization may
// expire.
const MaxDeleteValidity = time.Hour

// ChunkStore is what the storage protocol serves; *store.Store implements it.
type ChunkStore interface {
	Put(c chunk.CID, owner [32]byte, data []byte) error
	Get(c chunk.CID, buf []byte) ([]byte, error)
	Has(c chunk.CID) (bool, error)
	Delete(c chunk.CID, owner [32]byte) error
	Prove(c chunk.CID, challenge [32]byte) ([32]byte, error)
}

// SessionStore is a ChunkStore that keeps which market session each chunk
// was put in (a provider's retention: a chunk is kept as long as its
// session paid for). The storage protocol calls PutIn, with the session
// the stream named ("" for none), instead of Put.
type SessionStore interface {
	ChunkStore
	PutIn(c chunk.CID, owner [32]byte, market string, data []byte) error
}

// putIn stores a chunk put on a stream of market session market.
func putIn(st ChunkStore, c chunk.CID, owner [32]byte, market string, data []byte) error {
	if ss, ok := st.(SessionStore); ok {
		return ss.PutIn(c, owner, market, data)
	}
	return st.Put(c, owner, data)
}

// ServeStorage registers the storage protocol on the host, serving st.
// gate may be nil for free storage.
func (t *Host) ServeStorage(st ChunkStore, gate PaymentGate) {
	t.h.SetStreamHandler(StorageProtocol, func(s network.Stream) {
		t.wg.Add(1)
		defer t.wg.Done()
		t.serveStorage(s, st, gate)
	})
}

func (t *Host) serveStorage(s network.Stream, st ChunkStore, gate PaymentGate) {
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	c := newConn(s, maxStorageFrame, t.cfg.StreamTimeout)
	stop := c.watch(ctx)
	defer stop()
	remote := s.Conn().RemotePeer()
	market, err := t.readSession(c)
	if err == nil {
		var a *storageAccount
		if a, err = t.openAccount(ctx, gate, remote, market); err == nil {
			defer a.release(context.WithoutCancel(ctx))
			if err := c.write(rOK); err != nil {
				_ = s.Reset()
				return
			}
			t.serveStorageRequests(ctx, s, c, a, st, remote)
			return
		}
	}
	t.log.Debug("storage stream refused", "peer", remote, "err", err)
	if errors.Is(err, errTransient) {
		_ = s.Reset()
		return
	}
	_ = c.writeErr(err)
	_ = s.Close() // close, not reset, so the ERR frame arrives
}

// errTransient marks a stream error (a reset, a timeout) that gets no ERR
// answer.
var errTransient = errors.New("transient")

// readSession reads the SESSION frame that opens a storage stream.
func (t *Host) readSession(c *conn) (string, error) {
	typ, body, err := c.read(t.cfg.StreamTimeout)
	if err != nil {
		if ferr := frameErr(err); ferr != nil {
			return "", ferr
		}
		return "", fmt.Errorf("%w: %w", errTransient, err)
	}
	if typ != tSession {
		return "", fmt.Errorf("%w: want SESSION first, got frame %#x", ErrBadRequest, typ)
	}
	return decodeSession(body)
}

// serveStorageRequests serves a storage stream's requests, on account a.
func (t *Host) serveStorageRequests(ctx context.Context, s network.Stream, c *conn, a *storageAccount, st ChunkStore, remote peer.ID) {
	owner := [32]byte(mustNostr(remote))
	var buf []byte
	for {
		typ, body, err := c.read(t.cfg.IdleTimeout)
		if err != nil {
			if errors.Is(err, io.EOF) {
				_ = s.Close()
				return
			}
			t.log.Debug("storage stream read failed", "peer", remote, "err", err)
			if errors.Is(err, frame.ErrTooLarge) || errors.Is(err, frame.ErrEmpty) {
				_ = c.writeErr(fmt.Errorf("%w: %v", ErrTooLarge, err))
				_ = s.Close() // close, not reset, so the ERR frame arrives
				return
			}
			_ = s.Reset()
			return
		}
		a.addBytes(uint64(len(body))+frame.HeaderSize, 0)
		var out []byte
		outTyp := rOK
		err = t.storageRequest(ctx, c, a, st, owner, typ, body, &buf, &out, &outTyp)
		if err != nil {
			if errors.Is(err, errAnswerWrite) {
				t.log.Debug("storage stream write failed", "peer", remote, "err", err)
				_ = s.Reset()
				return
			}
			if errors.Is(err, errFatal) {
				t.log.Debug("storage stream failed", "peer", remote, "err", err)
				_ = c.writeErr(err)
				_ = s.Close() // close, not reset, so the ERR frame arrives
				return
			}
			if werr := c.writeErr(err); werr != nil {
				_ = s.Reset()
				return
			}
			continue
		}
		if outTyp == 0 {
			continue // answered by storageRequest (a GET served in place)
		}
		a.addBytes(0, uint64(len(out))+frame.HeaderSize)
		if err := c.write(outTyp, out); err != nil {
			t.log.Debug("storage stream write failed", "peer", remote, "err", err)
			_ = s.Reset()
			return
		}
	}
}

// errFatal marks errors after which the stream cannot continue.
var errFatal = errors.New("fatal")

// errAnswerWrite marks a failed write of an answer: the stream is reset.
var errAnswerWrite = errors.New("answer write failed")

// framedStore is a ChunkStore that passes a chunk for sending with room
// for a frame header before it (*store.Store.GetFramed): a GET's DATA
// frame then goes out in one write from the buffer the chunk was read
// into, with no copy of the chunk (issue 13, point 7).
type framedStore interface {
	GetFramed(c chunk.CID, room int, buf []byte, send func(frame []byte) error) ([]byte, error)
}

// serveGetFramed answers a GET of chunk cid from fs, reserving its units
// (paying at a pause point, or asking for a payment ahead) before the DATA
// frame is written, as storageRequest does for other stores.
func (t *Host) serveGetFramed(ctx context.Context, c *conn, a *storageAccount, fs framedStore, cid chunk.CID, buf *[]byte) error {
	b, err := fs.GetFramed(cid, frame.HeaderSize, *buf, func(fr []byte) error {
		data := fr[frame.HeaderSize:]
		units := a.m.storageUnits(false, uint64(len(data)))
		ahead, err := a.reserve(ctx, c, units, func() {})
		if err != nil {
			return fatalError{err}
		}
		if ahead {
			if err := a.payAhead(ctx, c); err != nil {
				a.unreserve(units) // the stream fails: the data is not sent
				return fatalError{err}
			}
		}
		frame.PutHeader(fr, rData, len(data))
		a.addBytes(0, uint64(len(fr)))
		if err := c.writeRaw(fr); err != nil {
			return fmt.Errorf("%w: %w", errAnswerWrite, err)
		}
		return nil
	})
	*buf = b
	if err != nil && !errors.Is(err, errFatal) && !errors.Is(err, errAnswerWrite) {
		return storeErr(err)
	}
	return err
}

type fatalError struct{ err error }

func (e fatalError) Error() string { return e.err.Error() }
func (e fatalError) Unwrap() []error {
	return []error{e.err, errFatal}
}

func (t *Host) storageRequest(ctx context.Context, c *conn, a *storageAccount, st ChunkStore, owner [32]byte,
	typ byte, body []byte, buf *[]byte, out *[]byte, outTyp *byte) error {
	if typ == tPay {
		return fatalError{fmt.Errorf("%w: payment outside a pause point", ErrProtocol)}
	}
	if len(body) < 32 {
		return fatalError{fmt.Errorf("%w: request %#x of %d bytes", ErrBadRequest, typ, len(body))}
	}
	cid := chunk.CID(body[:32])
	rest := body[32:]
	// A payment ahead is asked for before the request is served: for a
	// put, before the chunk is stored (hashed, written, committed), so
	// that its redemption runs while the chunk is stored and the credit it
	// buys arrives before the streams use up the step left (asked after
	// the store, the payments' round trips and redemptions took turns with
	// the stores and held up every stream: issue 13, point 7). The payment
	// frame is read into a buffer of its own (askPayment): the request's
	// body stays in the frame buffer.
	ahead := false
	defer func() {
		if ahead {
			a.cancelAhead()
		}
	}()
	payAhead := func() error {
		if !ahead {
			return nil
		}
		ahead = false
		if err := a.payAhead(ctx, c); err != nil {
			return fatalError{err}
		}
		return nil
	}
	switch typ {
	case tPut:
		units := a.m.storageUnits(true, uint64(len(rest)))
		// Paid for before it is stored (the pause point), but used only
		// once stored: a put the store refuses (wrong CID, over quota)
		// gives its units back to the credit (PaymentGate.Close keeps
		// unused credit for the buyer), so it costs nothing. The pause
		// point reads PAY frames into the frame buffer that holds rest:
		// keep a copy first.
		var err error
		ahead, err = a.reserve(ctx, c, units, func() { rest = append([]byte(nil), rest...) })
		if err != nil {
			return fatalError{err}
		}
		if err := payAhead(); err != nil {
			a.unreserve(units) // the stream fails: the chunk is not stored
			return err
		}
		if err := putIn(st, cid, owner, a.key.market, rest); err != nil {
			a.unreserve(units)
			return storeErr(err)
		}
		return nil
	case tGet:
		if len(rest) != 0 {
			return fatalError{fmt.Errorf("%w: get with body", ErrBadRequest)}
		}
		if fs, ok := st.(framedStore); ok {
			*outTyp = 0 // the answer is written here
			return t.serveGetFramed(ctx, c, a, fs, cid, buf)
		}
		data, err := st.Get(cid, (*buf)[:0])
		if err != nil {
			return storeErr(err)
		}
		*buf = data
		units := a.m.storageUnits(false, uint64(len(data)))
		ahead, err = a.reserve(ctx, c, units, func() {})
		if err != nil {
			return fatalError{err}
		}
		if err := payAhead(); err != nil {
			a.unreserve(units) // the stream fails: the data is not sent
			return err
		}
		*out, *outTyp = data, rData
		return nil
	case tHas:
		ok, err := st.Has(cid)
		if err != nil {
			return storeErr(err)
		}
		if ok {
			*out = []byte{1}
		} else {
			*out = []byte{0}
		}
		return nil
	case tDelete:
		signer, expiry, sig, err := decodeDelete(rest)
		if err != nil {
			return fatalError{err}
		}
		if err := verifyDelete(t.h.ID(), cid, signer, expiry, sig, time.Now()); err != nil {
			return err
		}
		return storeErr(st.Delete(cid, signer))
	case tProve:
		if len(rest) != 32 {
			return fatalError{fmt.Errorf("%w: prove of %d bytes", ErrBadRequest, len(body))}
		}
		p, err := st.Prove(cid, [32]byte(rest))
		if err != nil {
			return storeErr(err)
		}
		*out = p[:]
		return nil
	}
	return fatalError{fmt.Errorf("%w: unknown storage request %#x", ErrBadRequest, typ)}
}

// deleteSize is the size of a DELETE body after the CID: owner[32],
// expiry[8] (Unix seconds) and a BIP-340 signature[64].
const deleteSize = 32 + 8 + 64

// encodeDelete is the body of a DELETE request after the CID.
func encodeDelete(owner [32]byte, expiry int64, sig []byte) []byte {
	b := make([]byte, 0, deleteSize)
	b = append(b, owner[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(expiry))
	return append(b, sig...)
}

// decodeDelete parses what follows the CID in a DELETE request (see
// encodeDelete); sig aliases rest.
func decodeDelete(rest []byte) (owner [32]byte, expiry int64, sig []byte, err error) {
	if len(rest) != deleteSize {
		return owner, 0, nil, fmt.Errorf("%w: delete of %d bytes after the CID, want %d", ErrBadRequest, len(rest), deleteSize)
	}
	return [32]byte(rest[:32]), int64(binary.BigEndian.Uint64(rest[32:40])), rest[40:], nil
}

// storeErr maps store errors to the protocol's sentinels.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	case errors.Is(err, store.ErrCIDMismatch):
		return fmt.Errorf("%w: %v", ErrCIDMismatch, err)
	case errors.Is(err, store.ErrQuotaExceeded):
		return fmt.Errorf("%w: %v", ErrQuotaExceeded, err)
	case errors.Is(err, store.ErrNotOwner):
		return fmt.Errorf("%w: %v", ErrNotOwner, err)
	case errors.Is(err, store.ErrTooLarge):
		return fmt.Errorf("%w: %v", ErrTooLarge, err)
	}
	return fmt.Errorf("%w: storage failed", ErrRemoteInternal)
}

func mustNostr(id peer.ID) [32]byte {
	k, _ := nostrKeyBytes(id) // the gater admits only Nostr keys
	return k
}

// deleteDigest is what an owner signs to delete chunk c on provider.
func deleteDigest(provider peer.ID, c chunk.CID, expiry int64) [32]byte {
	h := sha256.New()
	h.Write([]byte("sovmesh/delete/v1"))
	h.Write([]byte(provider))
	h.Write(c[:])
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(expiry)))
	return [32]byte(h.Sum(nil))
}

func signDelete(priv interface{ Raw() ([]byte, error) }, provider peer.ID, c chunk.CID, expiry int64) ([]byte, error) {
	raw, err := priv.Raw()
	if err != nil {
		return nil, fmt.Errorf("transport: sign delete: %w", err)
	}
	k, _ := btcec.PrivKeyFromBytes(raw)
	clear(raw)
	d := deleteDigest(provider, c, expiry)
	sig, err := schnorr.Sign(k, d[:])
	if err != nil {
		return nil, fmt.Errorf("transport: sign delete: %w", err)
	}
	return sig.Serialize(), nil
}

func verifyDelete(provider peer.ID, c chunk.CID, signer [32]byte, expiry int64, sig []byte, now time.Time) error {
	if expiry < now.Unix() {
		return fmt.Errorf("%w: delete authorization expired", ErrUnauthorized)
	}
	if expiry > now.Add(MaxDeleteValidity).Unix() {
		return fmt.Errorf("%w: delete authorization valid too long", ErrUnauthorized)
	}
	pk, err := schnorr.ParsePubKey(signer[:])
	if err != nil {
		return fmt.Errorf("%w: bad signer key", ErrUnauthorized)
	}
	s, err := schnorr.ParseSignature(sig)
	if err != nil {
		return fmt.Errorf("%w: bad signature encoding", ErrUnauthorized)
	}
	d := deleteDigest(provider, c, expiry)
	if !s.Verify(d[:], pk) {
		return fmt.Errorf("%w: bad delete signature", ErrUnauthorized)
	}
	return nil
}
