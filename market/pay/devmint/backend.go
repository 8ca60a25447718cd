package devmint

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/elnosh/gonuts/mint/lightning"

	"github.com/sovmesh/sovmesh/market/pay/bolt11"
)

// Backend is gonuts' lightning.FakeBackend made safe for concurrent use (the
// fake keeps its invoices in a plain slice). It marks every invoice paid: it
// is the only fake money in sovmesh, and it is TEST MONEY. With a file
// (OpenBackend), the invoices it issued outlive a restart, as a Lightning
// node's do: a quote asked for before the restart is still paid after it.
//
// The Backends of one process form one fake Lightning network: a payment to
// an invoice another Backend issued succeeds with that invoice's true
// preimage (gonuts' fake alone answers a fixed, wrong one).
type Backend struct {
	mu       sync.Mutex
	fake     lightning.FakeBackend
	reserve  uint64
	outgoing map[string]lightning.PaymentStatus // by payment hash, payments to network invoices
	file     *os.File                           // invoices, one JSON line each; nil: memory only
	// strict: an invoice is paid only once a Backend of this process paid
	// it (SetStrict).
	strict  bool
	closed  chan struct{}
	closeMu sync.Once
}

var _ lightning.Client = (*Backend)(nil)

// network holds the preimage of every invoice a Backend of this process
// issued, by payment hash.
var network sync.Map

// netPaid holds the payment hashes of the invoices a Backend of this
// process paid; paidSignal is closed (and replaced) at each such payment.
var (
	netPaid    sync.Map
	paidMu     sync.Mutex
	paidSignal = make(chan struct{})
)

func markNetPaid(hash string) {
	netPaid.Store(hash, true)
	paidMu.Lock()
	close(paidSignal)
	paidSignal = make(chan struct{})
	paidMu.Unlock()
}

func nextPayment() <-chan struct{} {
	paidMu.Lock()
	defer paidMu.Unlock()
	return paidSignal
}

// NewBackend returns an empty fake Lightning backend that reserves
// feeReserve sats of Lightning fee for each payment it makes (a mint asks
// payers for amount + reserve; gonuts' mint keeps all of it, having no NUT-08
// change).
func NewBackend(feeReserve uint64) *Backend {
	return &Backend{reserve: feeReserve, outgoing: make(map[string]lightning.PaymentStatus), closed: make(chan struct{})}
}

// SetStrict makes the backend report its invoices paid only once another
// Backend of this process has paid them (a melt at another dev mint), not
// at once: a mint quote nobody paid stays unpaid, as on a real mint. Call
// it before the mint issues invoices.
func (b *Backend) SetStrict() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.strict = true
}

// InvoicesFile holds, in the mint's folder, the invoices its backend issued.
const InvoicesFile = "invoices"

// storedInvoice is one line of the invoices file.
type storedInvoice struct {
	Request  string `json:"request"`
	Hash     string `json:"hash"`
	Preimage string `json:"preimage"`
	Amount   uint64 `json:"amount"`
}

// OpenBackend is NewBackend keeping its invoices in path (created 0600 if
// missing): those of earlier runs are loaded, each new one is appended and
// synced before the mint hands it out. A torn last line (a crash while
// appending) is ignored: that invoice was never handed out.
func OpenBackend(path string, feeReserve uint64) (*Backend, error) {
	b := NewBackend(feeReserve)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("devmint: invoices: %w", err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		var inv storedInvoice
		if json.Unmarshal(sc.Bytes(), &inv) != nil || inv.Hash == "" {
			continue
		}
		b.fake.Invoices = append(b.fake.Invoices, lightning.FakeBackendInvoice{PaymentRequest: inv.Request, PaymentHash: inv.Hash,
			Preimage: inv.Preimage, Status: lightning.Succeeded, Amount: inv.Amount})
		network.Store(inv.Hash, inv.Preimage)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, fs.ErrClosed) {
		f.Close()
		return nil, fmt.Errorf("devmint: invoices: %w", err)
	}
	b.file = f
	return b, nil
}

// Close closes the invoices file, if any.
func (b *Backend) Close() error {
	b.closeMu.Do(func() { close(b.closed) })
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.file == nil {
		return nil
	}
	err := b.file.Close()
	b.file = nil
	return err
}

// ConnectionStatus implements lightning.Client.
func (b *Backend) ConnectionStatus() error { return nil }

// CreateInvoice implements lightning.Client.
func (b *Backend) CreateInvoice(amount uint64) (lightning.Invoice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	inv, err := b.fake.CreateInvoice(amount)
	if err != nil {
		return inv, err
	}
	// gonuts' fake leaves the expiry 0, so every mint quote expired the
	// second it was made (NUT-04 clients refuse such quotes); an hour, as
	// gonuts' LND backend gives.
	if inv.Expiry == 0 {
		inv.Expiry = invoiceExpiry
	}
	if b.file != nil {
		line, _ := json.Marshal(storedInvoice{Request: inv.PaymentRequest, Hash: inv.PaymentHash, Preimage: inv.Preimage, Amount: amount})
		if _, err := b.file.Write(append(line, '\n')); err != nil {
			return lightning.Invoice{}, fmt.Errorf("devmint: keep invoice: %w", err)
		}
		if err := b.file.Sync(); err != nil {
			return lightning.Invoice{}, fmt.Errorf("devmint: keep invoice: %w", err)
		}
	}
	network.Store(inv.PaymentHash, inv.Preimage)
	return inv, nil
}

// invoiceExpiry is the lifetime, in seconds, of the fake backend's
// invoices and so of the mint's quotes.
const invoiceExpiry = 3600

// InvoiceStatus implements lightning.Client.
func (b *Backend) InvoiceStatus(hash string) (lightning.Invoice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	inv, err := b.fake.InvoiceStatus(hash)
	if err == nil && b.strict {
		_, paid := netPaid.Load(hash)
		inv.Settled = paid
	}
	return inv, err
}

// SendPayment implements lightning.Client. A payment to an invoice of this
// process's fake network gets its true preimage; gonuts' fake returns a
// fixed preimage for any other invoice, so a preimage check fails on them.
func (b *Backend) SendPayment(ctx context.Context, request string, maxFee uint64) (lightning.PaymentStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if hash, ok := paymentHash(request); ok {
		if pre, ok := network.Load(hash); ok {
			st := lightning.PaymentStatus{Preimage: pre.(string), PaymentStatus: lightning.Succeeded}
			b.outgoing[hash] = st
			markNetPaid(hash)
			return st, nil
		}
	}
	return b.fake.SendPayment(ctx, request, maxFee)
}

// paymentHash is the hex payment hash of a BOLT11 invoice of any network.
func paymentHash(request string) (string, bool) {
	inv, err := bolt11.DecodeAny(request)
	if err != nil {
		return "", false
	}
	return inv.PaymentHashHex(), true
}

// PayPartialAmount implements lightning.Client.
func (b *Backend) PayPartialAmount(ctx context.Context, request string, amountMsat, maxFee uint64) (lightning.PaymentStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fake.PayPartialAmount(ctx, request, amountMsat, maxFee)
}

// OutgoingPaymentStatus implements lightning.Client.
func (b *Backend) OutgoingPaymentStatus(ctx context.Context, hash string) (lightning.PaymentStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if st, ok := b.outgoing[hash]; ok {
		return st, nil
	}
	return b.fake.OutgoingPaymentStatus(ctx, hash)
}

// FeeReserve implements lightning.Client: the reserve NewBackend was given.
func (b *Backend) FeeReserve(amount uint64) uint64 { return b.reserve }

// SubscribeInvoice implements lightning.Client.
func (b *Backend) SubscribeInvoice(paymentHash string) (lightning.InvoiceSubscriptionClient, error) {
	return invoiceSub{b: b, hash: paymentHash}, nil
}

type invoiceSub struct {
	b    *Backend
	hash string
}

// Recv returns the invoice's state; on a strict backend it waits, while
// the invoice is unpaid, for a payment on the network or the backend's
// close (an error then).
func (s invoiceSub) Recv() (lightning.Invoice, error) {
	for {
		next := nextPayment()
		inv, err := s.b.InvoiceStatus(s.hash)
		if err != nil || inv.Settled || !s.b.isStrict() {
			return inv, err
		}
		select {
		case <-next:
		case <-s.b.closed:
			return inv, errors.New("devmint: backend closed")
		}
	}
}

func (b *Backend) isStrict() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.strict
}
