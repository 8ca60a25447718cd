package transport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Usage counts one session's traffic. BytesIn and BytesOut are payload
// bytes seen from the provider's side (in = from the buyer); Units are what
// the session charges for: chunk bytes for storage (or what the gate's
// StoragePricer makes of them), carried bytes (both
// ways) for bandwidth, streamed chunks for inference.
type Usage struct {
	BytesIn  uint64
	BytesOut uint64
	Units    uint64
}

// Session identifies one metered session on a provider.
type Session struct {
	ID       string      // random, unique per session
	Protocol protocol.ID // which service
	Peer     peer.ID     // the buyer
	Buyer    string      // the buyer's Nostr public key (hex)
	// Market is the market session the stream names (its match's session
	// id, hex; "" for none): the gate books the stream's payments and
	// usage to it, or refuses the stream with ErrSessionRefused.
	Market string
}

// PaymentGate is what a provider asks before data flows. Open grants the
// initial credit (0 means pay first), Redeem turns a payment token from the
// buyer into more units of credit, Close reports the final usage. The
// provider calls Redeem at a pause point: when the next step would pass the
// credit, no more data flows until a payment step is redeemed or
// Config.PayTimeout passes. A nil gate means the service is free.
type PaymentGate interface {
	Open(ctx context.Context, s Session) (credit uint64, err error)
	Redeem(ctx context.Context, s Session, token []byte) (units uint64, err error)
	Close(ctx context.Context, s Session, u Usage)
}

// UsageJournal is a PaymentGate that books a stream's usage as it goes:
// at each pause point the transport tells it, before Redeem, the stream's
// usage so far (read under the stream's lock), so a provider killed while
// the stream is open loses at most what the stream used since its last
// payment step. Close still gets the whole usage.
type UsageJournal interface {
	Progress(ctx context.Context, s Session, u Usage)
}

// StoragePricer is a PaymentGate for the storage protocol whose units are
// not chunk bytes: StorageUnits returns what a PUT (put) or GET of n chunk
// bytes costs in its units, so that storing and reading back can be priced
// apart. A storage gate without it charges one unit per byte either way.
type StoragePricer interface {
	StorageUnits(s Session, put bool, n uint64) uint64
}

// Invoice is what a provider asks a buyer to pay at a pause point.
type Invoice struct {
	Provider peer.ID
	Protocol protocol.ID
	Used     uint64 // units used so far
	Credit   uint64 // units paid for so far
	Need     uint64 // units the next step needs beyond Credit (0: a payment ahead)
}

// Payer makes the buyer's next payment step: it returns an opaque token
// (agentd: a Cashu token) that the provider's PaymentGate redeems. An
// Invoice with Need 0 asks for a payment ahead (the storage protocol
// pipelines payments): the payer may decline it with an empty token and no
// error, and the provider goes on serving the credit paid for.
type Payer interface {
	Pay(ctx context.Context, inv Invoice) (token []byte, err error)
}

// StepPayer is a Payer that tells how many units a payment step buys at
// least. A carried connection (BandwidthConn) pays ahead once less than
// half a step of credit is left: with the step known from the start, it
// pays its first step ahead too, instead of first stopping at the
// provider's pause point while a step is paid and redeemed (each new
// connection of a session starts with what is left of the session's
// credit, often less than a step).
type StepPayer interface {
	Payer
	StepUnits() uint64
}

// MaxTokenSize bounds a payment token.
const MaxTokenSize = 64 << 10

// meter is a provider's view of one session's credit.
type meter struct {
	gate   PaymentGate
	sess   Session
	credit uint64
	usage  Usage
}

func newSessionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// openMeter starts a metered session for remote on proto, in the market
// session market ("" for none).
func openMeter(ctx context.Context, gate PaymentGate, proto protocol.ID, remote peer.ID, market string) (*meter, error) {
	buyer, err := NostrPubkeyFromPeerID(remote)
	if err != nil {
		return nil, err
	}
	m := &meter{gate: gate, sess: Session{ID: newSessionID(), Protocol: proto, Peer: remote, Buyer: buyer, Market: market}}
	if gate == nil {
		m.credit = math.MaxUint64
		return m, nil
	}
	c, err := gate.Open(ctx, m.sess)
	if errors.Is(err, ErrSessionRefused) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPaymentRefused, err)
	}
	m.credit = c
	return m, nil
}

// short reports how many units beyond the credit a step of n units needs
// (0 when it is covered).
func (m *meter) short(n uint64) uint64 {
	if m.usage.Units+n <= m.credit {
		return 0
	}
	return m.usage.Units + n - m.credit
}

// storageUnits returns what a storage PUT (put) or GET of n bytes costs.
func (m *meter) storageUnits(put bool, n uint64) uint64 {
	if sp, ok := m.gate.(StoragePricer); ok {
		return sp.StorageUnits(m.sess, put, n)
	}
	return n
}

func (m *meter) redeem(ctx context.Context, token []byte) error {
	u, err := m.redeemUnits(ctx, token, m.usage)
	if err != nil {
		return err
	}
	m.addCredit(u)
	return nil
}

// redeemUnits asks the gate for the units token buys, without touching m:
// the caller adds them (addCredit) under its own lock, so a slow mint swap
// holds no lock the data path needs. used is the stream's usage so far,
// read under the caller's lock, told to a UsageJournal gate first.
func (m *meter) redeemUnits(ctx context.Context, token []byte, used Usage) (uint64, error) {
	if m.gate == nil {
		return 0, nil
	}
	if j, ok := m.gate.(UsageJournal); ok {
		j.Progress(ctx, m.sess, used)
	}
	u, err := m.gate.Redeem(ctx, m.sess, token)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrPaymentRefused, err)
	}
	return u, nil
}

// addCredit adds u units to the credit, saturating.
func (m *meter) addCredit(u uint64) {
	if m.credit > math.MaxUint64-u {
		m.credit = math.MaxUint64
	} else {
		m.credit += u
	}
}

func (m *meter) close(ctx context.Context) {
	if m.gate != nil {
		m.gate.Close(ctx, m.sess, m.usage)
	}
}
