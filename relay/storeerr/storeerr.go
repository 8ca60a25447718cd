// Package storeerr holds the errors the relay's event stores (relay/sqlitestore,
// relay/pgstore) return and the relay recognises, so both stores answer a
// client the same way.
package storeerr

import "errors"

// ErrNewerVersion is returned by ReplaceEvent when the store already holds a
// newer version of the replaceable or addressable event (a later created_at,
// or the same created_at and a lower id). Nothing is written. Its message
// starts with the NIP-01 "duplicate:" prefix, which khatru passes on in the
// OK message.
var ErrNewerVersion = errors.New("duplicate: a newer version of this event is already stored")

// ErrNotReplaceable is returned by ReplaceEvent for a kind that is neither
// replaceable (0, 3, 10000-19999) nor addressable (30000-39999).
var ErrNotReplaceable = errors.New("invalid: event kind is not replaceable")

// ErrInvalidEvent is returned (wrapped, with the reason) for an event that
// cannot be stored: an id or pubkey that is not 64 lowercase hex characters.
var ErrInvalidEvent = errors.New("invalid: malformed event")

// ErrUnsupportedFilter is returned (wrapped) by QueryEvents and CountEvents
// for a filter on a tag whose name is not a single letter (only those are
// indexed, as NIP-01 specifies).
var ErrUnsupportedFilter = errors.New("unsupported: filter")

// ErrTooMany is returned by CountUnion when more events match than it may
// count.
var ErrTooMany = errors.New("too many matching events")

// ErrClosed is returned for calls made after Close.
var ErrClosed = errors.New("event store is closed")
