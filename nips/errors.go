package nips

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped by every *ParseError; compare with errors.Is.
var (
	// ErrWrongKind means the event is not of the kind the parser reads.
	ErrWrongKind = errors.New("wrong kind")
	// ErrMissingTag means a required tag is absent.
	ErrMissingTag = errors.New("missing required tag")
	// ErrDuplicateTag means a tag that may appear once appears again.
	ErrDuplicateTag = errors.New("tag repeated")
	// ErrBadValue means a tag or field has a malformed value.
	ErrBadValue = errors.New("malformed value")
	// ErrOutOfRange means a number is outside the range the protocol allows.
	ErrOutOfRange = errors.New("out of range")
	// ErrOverflow means an amount computed from the event would overflow or
	// exceed the 21M BTC bound.
	ErrOverflow = errors.New("amount overflow")
	// ErrBadCountersig means a receipt's buyer countersignature does not verify.
	ErrBadCountersig = errors.New("countersignature does not verify")
)

// ParseError describes why an event failed to parse: the event type, the
// tag or field at fault (empty for the event as a whole) and the reason.
// Its message is fit for a NIP-01 "invalid:" OK message.
type ParseError struct {
	Type string // "offer", "bid", ...
	Tag  string // tag name or field ("kind", "content"), may be empty
	Err  error  // a sentinel above, possibly wrapped with detail
}

func (e *ParseError) Error() string {
	if e.Tag == "" {
		return fmt.Sprintf("%s: %v", e.Type, e.Err)
	}
	return fmt.Sprintf("%s: tag %q: %v", e.Type, e.Tag, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

func perr(typ, tag string, sentinel error, format string, args ...any) error {
	if format == "" {
		return &ParseError{Type: typ, Tag: tag, Err: sentinel}
	}
	return &ParseError{Type: typ, Tag: tag, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}

func wrapf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
