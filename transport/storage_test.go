package transport_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/transport"
	"github.com/sovmesh/sovmesh/transport/chunk"
)

func TestStorageProtocol(t *testing.T) {
	prov, st := newProvider(t, 0, nil)
	buyer := newHost(t)
	pid := connect(t, buyer, prov)
	sc := buyer.Storage(pid, nil)
	ctx := t.Context()

	data := bytes.Repeat([]byte("ciphertext"), 3000)
	c := chunk.Sum(data)
	if err := sc.Put(ctx, c, data); err != nil {
		t.Fatal(err)
	}
	if ok, err := sc.Has(ctx, c); err != nil || !ok {
		t.Fatalf("has: %v %v", ok, err)
	}
	got, err := sc.Get(ctx, c, nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %v", err)
	}
	owner, err := st.Owner(c)
	if err != nil || owner != [32]byte(mustHex(t, buyer.NostrPubkey())) {
		t.Fatalf("owner recorded %x (%v)", owner, err)
	}
	ch := [32]byte{1, 2, 3}
	p, err := sc.Prove(ctx, c, ch)
	if err != nil || p != sha256.Sum256(append(append([]byte(nil), data...), ch[:]...)) {
		t.Fatalf("prove: %v", err)
	}

	// Another buyer can neither overwrite nor delete it.
	other := newHost(t)
	oc := other.Storage(connect(t, other, prov), nil)
	if err := oc.Delete(ctx, c); !errors.Is(err, transport.ErrNotOwner) {
		t.Fatalf("delete by other: %v", err)
	}
	if err := oc.Put(ctx, c, data); !errors.Is(err, transport.ErrNotOwner) {
		t.Fatalf("put by other: %v", err)
	}
	if err := sc.Delete(ctx, c); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if ok, _ := sc.Has(ctx, c); ok {
		t.Fatal("chunk survived delete")
	}
	if _, err := sc.Get(ctx, c, nil); !errors.Is(err, transport.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
}

func TestDeleteAuthorization(t *testing.T) {
	prov, _ := newProvider(t, 0, nil)
	buyerSecret, _ := transport.GenerateNostrSecret()
	buyer := newHost(t, transport.WithNostrSecret(buyerSecret))
	pid := connect(t, buyer, prov)
	sc := buyer.Storage(pid, nil)
	ctx := t.Context()
	data := []byte("some ciphertext")
	c := chunk.Sum(data)
	if err := sc.Put(ctx, c, data); err != nil {
		t.Fatal(err)
	}
	owner := [32]byte(mustHex(t, buyer.NostrPubkey()))
	secret, _ := transport.GenerateNostrSecret()
	wrongSig, _ := transport.SignDelete(secret, pid, c, time.Now().Add(time.Minute))
	tests := []struct {
		name   string
		expiry time.Time
		sig    func(exp time.Time) []byte
	}{
		{"signature by another key", time.Now().Add(time.Minute), func(time.Time) []byte { return wrongSig }},
		{"garbage signature", time.Now().Add(time.Minute), func(time.Time) []byte { return make([]byte, 64) }},
		{"expired", time.Now().Add(-time.Minute), nil},
		{"valid too long", time.Now().Add(2 * time.Hour), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := transport.SignDelete(buyerSecret, pid, c, tc.expiry)
			if err != nil {
				t.Fatal(err)
			}
			if tc.sig != nil {
				sig = tc.sig(tc.expiry)
			}
			err = sc.DeleteSigned(ctx, c, owner, tc.expiry.Unix(), sig)
			if !errors.Is(err, transport.ErrUnauthorized) {
				t.Fatalf("err %v, want ErrUnauthorized", err)
			}
		})
	}
	if ok, _ := sc.Has(ctx, c); !ok {
		t.Fatal("unauthorized delete removed the chunk")
	}
	sig, _ := transport.SignDelete(buyerSecret, pid, c, time.Now().Add(time.Minute))
	if err := sc.DeleteSigned(ctx, c, owner, time.Now().Add(time.Minute).Unix(), sig); err != nil {
		t.Fatalf("signed delete: %v", err)
	}
}
