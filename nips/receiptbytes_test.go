package nips_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/nips/nipstest"
)

// TestReceiptBytes: the optional bytes tag gives the exact size behind a
// storage or bandwidth receipt's rounded-up delivered units.
func TestReceiptBytes(t *testing.T) {
	cases := []struct {
		name      string
		res       nips.Resource
		delivered uint64
		bytes     uint64
		ok        bool
	}{
		{"3 MB stored, 1 GiB delivered", nips.Storage, 1, 3_000_000, true},
		{"exactly 2 GiB", nips.Storage, 2, 2 << 30, true},
		{"3 MB carried, 3 MiB delivered", nips.Bandwidth, 3, 3_000_000, true},
		{"no bytes given", nips.Storage, 1, 0, true},
		{"bytes not the delivered units", nips.Storage, 2, 3_000_000, false},
		{"bytes on an inference receipt", nips.Inference, 100, 100, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := nips.Receipt{Session: strings.Repeat("a", 64), Match: strings.Repeat("b", 64), Buyer: nipstest.Buyer.Public, Resource: tc.res,
				Delivered: tc.delivered, Bytes: tc.bytes, Paid: 1000, Payment: nips.Payment{Method: nips.PayCashu, Mint: nipstest.Mint, Unit: "sat"}}
			e := nipstest.Sign(r.ToEvent(1767312000), nipstest.Provider)
			got, err := nips.ParseReceipt(&e)
			if !tc.ok {
				if !errors.Is(err, nips.ErrBadValue) {
					t.Fatalf("parsed %+v, %v; want ErrBadValue", got, err)
				}
				return
			}
			if err != nil || got.Bytes != tc.bytes || got.Delivered != tc.delivered {
				t.Fatalf("parsed %+v, %v", got, err)
			}
		})
	}
}
