// Package creq encodes and decodes Cashu payment requests: the "creqA..."
// strings of NUT-18 (CBOR, then URL-safe base64) and the "CREQB1..." strings
// of NUT-26 (TLV in bech32m; DecodeAny reads both), and the payment payload
// the payer answers with, delivered in band.
//
// The wallet side (paying a request, issuing one, accepting its payment) is
// in market/pay/cashu; this package is the format only, safe on untrusted
// input: Decode bounds the size, nesting and element counts of what it reads
// and refuses duplicate map keys.
package creq

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// Prefix starts every encoded version-A payment request.
const Prefix = "creqA"

// MaxLen bounds an encoded request.
const MaxLen = 8 << 10

// Transport types of NUT-18. A request with no transport expects the payment
// in band, over the channel the request came on.
const (
	TransportNostr = "nostr"
	TransportPost  = "post"
)

// Locking condition kinds of NUT-10.
const (
	KindP2PK = "P2PK"
	KindHTLC = "HTLC"
)

// ErrMalformed is returned for a request or payload that does not decode.
var ErrMalformed = errors.New("creq: malformed payment request")

// Request is a NUT-18 payment request. Zero fields are absent.
// The field order matches the reference encoders, so a request encodes to
// the same bytes as the spec's test vectors.
type Request struct {
	// Transports to send the payment by, in order of preference; none
	// means in band.
	Transports []Transport `cbor:"t,omitempty" json:"t,omitempty"`
	// ID is echoed in the payment payload.
	ID string `cbor:"i,omitempty" json:"i,omitempty"`
	// Amount requested (0: the payer chooses).
	Amount uint64 `cbor:"a,omitempty" json:"a,omitempty"`
	// Unit of Amount ("sat"); must be set when Amount is.
	Unit string `cbor:"u,omitempty" json:"u,omitempty"`
	// Mints the payee accepts (none: any).
	Mints []string `cbor:"m,omitempty" json:"m,omitempty"`
	// Description shown to the payer.
	Description string `cbor:"d,omitempty" json:"d,omitempty"`
	// SingleUse: the request is paid once.
	SingleUse bool `cbor:"s,omitempty" json:"s,omitempty"`
	// NUT10 is the locking condition the payee requires.
	NUT10 *NUT10Option `cbor:"nut10,omitempty" json:"nut10,omitempty"`
}

// Transport is one way of delivering the payment.
type Transport struct {
	Type   string     `cbor:"t" json:"t"`
	Target string     `cbor:"a" json:"a"`
	Tags   [][]string `cbor:"g,omitempty" json:"g,omitempty"`
}

// NUT10Option is a locking condition without its nonce: kind (P2PK, HTLC),
// data (for P2PK the payee's public key) and NUT-10 tags.
type NUT10Option struct {
	Kind string     `cbor:"k" json:"k"`
	Data string     `cbor:"d" json:"d"`
	Tags [][]string `cbor:"t,omitempty" json:"t,omitempty"`
}

// Tag returns the values of the first NUT-10 tag named name, or nil.
func (o *NUT10Option) Tag(name string) []string {
	if o == nil {
		return nil
	}
	for _, t := range o.Tags {
		if len(t) > 0 && t[0] == name {
			return t[1:]
		}
	}
	return nil
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = (cbor.EncOptions{}).EncMode(); err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  8,
		MaxArrayElements: 256,
		MaxMapPairs:      64,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Encode returns the "creqA..." form of r.
func (r Request) Encode() (string, error) {
	if err := r.Validate(); err != nil {
		return "", err
	}
	b, err := encMode.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("creq: encode: %w", err)
	}
	return Prefix + base64.URLEncoding.EncodeToString(b), nil
}

// String returns the encoded request, or "" if it is invalid.
func (r Request) String() string {
	s, _ := r.Encode()
	return s
}

// Validate checks what NUT-18 requires of a request.
func (r Request) Validate() error {
	if r.Amount != 0 && r.Unit == "" {
		return fmt.Errorf("%w: amount without unit", ErrMalformed)
	}
	for i, t := range r.Transports {
		if t.Type == "" || t.Target == "" {
			return fmt.Errorf("%w: transport %d has no type or target", ErrMalformed, i)
		}
	}
	if r.NUT10 != nil && (r.NUT10.Kind == "" || r.NUT10.Data == "") {
		return fmt.Errorf("%w: locking condition without kind or data", ErrMalformed)
	}
	return nil
}

// Decode parses a "creqA..." string. Padding is optional; URL-safe and
// standard base64 alphabets are both read.
func Decode(s string) (Request, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxLen {
		return Request{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxLen)
	}
	if !strings.HasPrefix(s, Prefix) {
		return Request{}, fmt.Errorf("%w: missing the %s prefix", ErrMalformed, Prefix)
	}
	body := strings.TrimRight(s[len(Prefix):], "=")
	b, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(body); err != nil {
			return Request{}, fmt.Errorf("%w: bad base64", ErrMalformed)
		}
	}
	var r Request
	if err := decMode.Unmarshal(b, &r); err != nil {
		return Request{}, fmt.Errorf("%w: bad CBOR: %v", ErrMalformed, truncate(err.Error(), 120))
	}
	if err := r.Validate(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// Payload is what the payer sends to the payee (JSON, over the transport
// or in band): the request's id and the proofs.
type Payload struct {
	ID     string          `json:"id,omitempty"`
	Memo   string          `json:"memo,omitempty"`
	Mint   string          `json:"mint"`
	Unit   string          `json:"unit"`
	Proofs json.RawMessage `json:"proofs"`
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
