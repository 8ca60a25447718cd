package transport

import (
	"context"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// StripeState is what an earlier attempt of a put did with one stripe.
type StripeState int

// Stripe states a PutJournal reports.
const (
	// StripeNew: no shard of the stripe was sent.
	StripeNew StripeState = iota
	// StripeSent: some shards may be stored; each is asked for with HAS
	// and sent only if the provider does not hold it.
	StripeSent
	// StripeStored: every shard was acknowledged; none is sent again.
	StripeStored
)

// PutJournal records a put's progress so that an interrupted put can
// resume (PutOptions.Journal). A resumed put seals under the same key
// (PutOptions.Key) with the same code and providers, so it makes the same
// shards: sealing is deterministic per key and chunk index.
type PutJournal interface {
	// Begin records the shard CIDs of stripe (zero for a virtual shard)
	// before any is sent, and returns what an earlier attempt did with
	// it. It fails if the journal holds other CIDs for the stripe (the
	// content changed).
	Begin(ctx context.Context, stripe int, cids []chunk.CID) (StripeState, error)
	// Stored records that every shard of stripe is stored.
	Stored(ctx context.Context, stripe int) error
}
