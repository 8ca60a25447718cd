package metering

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// PaymentRequest is a NUT-18 Cashu payment request. Transports are empty:
// the tokens travel in band over the transport protocols.
type PaymentRequest struct {
	ID          string   `cbor:"i,omitempty"`
	Amount      uint64   `cbor:"a,omitempty"`
	Unit        string   `cbor:"u,omitempty"`
	SingleUse   bool     `cbor:"s,omitempty"`
	Mints       []string `cbor:"m,omitempty"`
	Description string   `cbor:"d,omitempty"`
}

const creqPrefix = "creqA"

// ErrBadRequest means a payment request does not decode.
var ErrBadRequest = errors.New("metering: malformed payment request")

// Encode returns the "creqA..." string.
func (p PaymentRequest) Encode() (string, error) {
	b, err := cbor.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("metering: encode payment request: %w", err)
	}
	return creqPrefix + base64.URLEncoding.EncodeToString(b), nil
}

// DecodePaymentRequest parses a "creqA..." string.
func DecodePaymentRequest(s string) (PaymentRequest, error) {
	if !strings.HasPrefix(s, creqPrefix) || len(s) > 4096 {
		return PaymentRequest{}, ErrBadRequest
	}
	body := strings.TrimRight(s[len(creqPrefix):], "=")
	b, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return PaymentRequest{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	var p PaymentRequest
	dm, _ := cbor.DecOptions{MaxArrayElements: 64, MaxMapPairs: 64, MaxNestedLevels: 4}.DecMode()
	if err := dm.Unmarshal(b, &p); err != nil {
		return PaymentRequest{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return p, nil
}
