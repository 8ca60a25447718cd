package devmint

import (
	"context"
	"sync"

	"github.com/elnosh/gonuts/mint/lightning"

	"github.com/sovmesh/sovmesh/market/pay/bolt11"
)

// Backend is gonuts' lightning.FakeBackend made safe for concurrent use (the
// fake keeps its invoices in a plain slice). It marks every invoice paid: it
// is the only fake money in sovmesh, and it is TEST MONEY.
//
// The Backends of one process form one fake Lightning network: a payment to
// an invoice another Backend issued succeeds with that invoice's true
// preimage (gonuts' fake alone answers a fixed, wrong one).
type Backend struct {
	mu       sync.Mutex
	fake     lightning.FakeBackend
	reserve  uint64
	outgoing map[string]lightning.PaymentStatus // by payment hash, payments to network invoices
}

var _ lightning.Client = (*Backend)(nil)

// network holds the preimage of every invoice a Backend of this process
// issued, by payment hash.
var network sync.Map

// NewBackend returns an empty fake Lightning backend that reserves
// feeReserve sats of Lightning fee for each payment it makes (a mint asks
// payers for amount + reserve; gonuts' mint keeps all of it, having no NUT-08
// change).
func NewBackend(feeReserve uint64) *Backend {
	return &Backend{reserve: feeReserve, outgoing: make(map[string]lightning.PaymentStatus)}
}

// ConnectionStatus implements lightning.Client.
func (b *Backend) ConnectionStatus() error { return nil }

// CreateInvoice implements lightning.Client.
func (b *Backend) CreateInvoice(amount uint64) (lightning.Invoice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	inv, err := b.fake.CreateInvoice(amount)
	if err == nil {
		network.Store(inv.PaymentHash, inv.Preimage)
		// gonuts' fake leaves the expiry 0, so every mint quote expired
		// the second it was made (NUT-04 clients refuse such quotes); an
		// hour, as gonuts' LND backend gives.
		if inv.Expiry == 0 {
			inv.Expiry = invoiceExpiry
		}
	}
	return inv, err
}

// invoiceExpiry is the lifetime, in seconds, of the fake backend's
// invoices and so of the mint's quotes.
const invoiceExpiry = 3600

// InvoiceStatus implements lightning.Client.
func (b *Backend) InvoiceStatus(hash string) (lightning.Invoice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fake.InvoiceStatus(hash)
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

func (s invoiceSub) Recv() (lightning.Invoice, error) { return s.b.InvoiceStatus(s.hash) }
