package devmint

import (
	"context"
	"sync"

	"github.com/elnosh/gonuts/mint/lightning"
)

// Backend is gonuts' lightning.FakeBackend made safe for concurrent use (the
// fake keeps its invoices in a plain slice). It marks every invoice paid: it
// is the only fake money in sovmesh, and it is TEST MONEY.
type Backend struct {
	mu   sync.Mutex
	fake lightning.FakeBackend
}

var _ lightning.Client = (*Backend)(nil)

// NewBackend returns an empty fake Lightning backend.
func NewBackend() *Backend { return &Backend{} }

// ConnectionStatus implements lightning.Client.
func (b *Backend) ConnectionStatus() error { return nil }

// CreateInvoice implements lightning.Client.
func (b *Backend) CreateInvoice(amount uint64) (lightning.Invoice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fake.CreateInvoice(amount)
}

// InvoiceStatus implements lightning.Client.
func (b *Backend) InvoiceStatus(hash string) (lightning.Invoice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fake.InvoiceStatus(hash)
}

// SendPayment implements lightning.Client. The fake returns a fixed preimage
// for invoices it did not issue, so a preimage check fails on them.
func (b *Backend) SendPayment(ctx context.Context, request string, maxFee uint64) (lightning.PaymentStatus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fake.SendPayment(ctx, request, maxFee)
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
	return b.fake.OutgoingPaymentStatus(ctx, hash)
}

// FeeReserve implements lightning.Client.
func (b *Backend) FeeReserve(amount uint64) uint64 { return 0 }

// SubscribeInvoice implements lightning.Client.
func (b *Backend) SubscribeInvoice(paymentHash string) (lightning.InvoiceSubscriptionClient, error) {
	return invoiceSub{b: b, hash: paymentHash}, nil
}

type invoiceSub struct {
	b    *Backend
	hash string
}

func (s invoiceSub) Recv() (lightning.Invoice, error) { return s.b.InvoiceStatus(s.hash) }
