// Package market is sovmesh's market domain, pure Go with no network code:
// the order book (one Book per resource class, price-time priority, partial
// fills, expiry, cancellation by NIP-09 deletion), the matching of open bids
// against offers, and trust scores computed from countersigned receipts and
// attestations (TrustGraph).
//
// Every function that depends on time takes the time as a parameter, so the
// same events always give the same fills and scores. Book is single-owner
// (not safe for concurrent use); Exchange wraps one Book per resource behind
// a mutex and is what a relay uses. Payments live in market/pay.
package market
