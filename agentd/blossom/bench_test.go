package blossom_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/blossom"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport/store"
)

// BenchmarkPaidUpload: a 16 MiB blob uploaded and paid (1 sat, redeemed at
// the dev mint, ledger line written) per op, then read back.
func BenchmarkPaidUpload(b *testing.B) {
	tn := agentdtest.Start(b)
	n := tn.Node(b, "p", 0)
	buyer := tn.Node(b, "b", 2000)
	q, err := store.Open(filepath.Join(b.TempDir(), "chunks"), 1<<40)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := blossom.New(blossom.Config{Dir: filepath.Join(b.TempDir(), "blossom"), Quota: q, Wallet: n.Wallet, DB: n.DB,
		Prices: func() nips.Prices { return nips.Prices{{Unit: nips.UnitGiBDay, Msat: 1}} }})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	base := "http://" + ln.Addr().String()
	sk := nostr.GeneratePrivateKey()
	blob := make([]byte, 16<<20)
	b.SetBytes(int64(len(blob)))
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		binary.BigEndian.PutUint64(blob, uint64(i)) // a new blob each op
		sha := shaHex(blob)
		auth := authHeader(b, sk, blossom.VerbUpload, time.Hour, sha)
		sent, err := buyer.Wallet.Send(context.Background(), 1, cashu.SendOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		req, _ := http.NewRequest(http.MethodPut, base+"/upload", bytes.NewReader(blob))
		req.Header.Set("Authorization", auth)
		req.Header.Set("X-Cashu", sent.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("upload: %v %v", resp, err)
		}
		resp.Body.Close()
		resp, err = http.Get(base + "/" + sha) // HEAD is free, GET costs 0 at this price
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("get: %v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
