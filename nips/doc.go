// Package nips holds sovmesh's market protocol: the kind numbers and the
// typed events of the market (offers, presence beacons, bids, matches,
// receipts and trust attestations, and the top-ups that prepay a relay's
// fees), each with an encoder (ToEvent) and a strict parser (ParseXxx) for
// untrusted input.
//
// Every other package uses these types; nothing else in sovmesh knows a
// market kind number or a market tag name. The Markdown files beside this
// package are the specification; the examples in them live in testdata/ and
// are checked by the tests.
//
// ToEvent returns an unsigned event: the caller signs it with its own key
// (nostr.Event.Sign or a nostr.Keyer). Parse checks the kind, the required
// tags, units, ranges and amounts (money in millisats, overflow-checked) and
// returns an error that names the problem; Parse does not verify the event
// signature, which is the relay's job (and a gift-wrapped rumor has none).
package nips
