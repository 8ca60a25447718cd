package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/relays"
	"github.com/sovmesh/sovmesh/internal/syncbuf"
	"github.com/sovmesh/sovmesh/market/pay/creq"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// TestProvideBlossom: agentd provide --blossom serves Blossom and announces
// it in the storage offer; an upload's requirements (BUD-06 HEAD /upload)
// are a 402 with a NUT-24 request at the offer's mint.
func TestProvideBlossom(t *testing.T) {
	net := agentdtest.Start(t)
	env := map[string]string{
		"SOVMESH_DATA":   t.TempDir(),
		"SOVMESH_RELAY":  net.Relay,
		"SOVMESH_MINT":   net.Mint.URL(),
		"SOVMESH_LISTEN": strings.Join(transport.LoopbackListenAddrs, ","),
	}
	pool, err := relays.New([]string{net.Relay}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	offers := make(chan nips.Offer, 1)
	sctx, stopSub := context.WithCancel(t.Context())
	defer stopSub()
	ready := make(chan struct{})
	go pool.Subscribe(sctx, nostr.Filters{{Kinds: []int{nips.KindOffer}}}, func(ev *nostr.Event) {
		if o, err := nips.ParseOffer(ev); err == nil && o.Blossom != "" {
			select {
			case offers <- o:
			default:
			}
		}
	}, ready)
	<-ready
	var stderr syncbuf.Buffer
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"provide", "--storage-size", "1MiB", "--blossom", "127.0.0.1:0"},
			envOf(env), strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()
	defer func() { stop(); <-done }()
	var o nips.Offer
	select {
	case o = <-offers:
	case code := <-done:
		done <- code
		t.Fatalf("provide exited (%d): %s", code, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("no offer with a Blossom server: %s", stderr.String())
	}
	sk := nostr.GeneratePrivateKey()
	ev := nostr.Event{Kind: 24242, CreatedAt: nostr.Now(), Content: "Upload Blob",
		Tags: nostr.Tags{{"t", "upload"}, {"x", strings.Repeat("ab", 32)}, {"expiration", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)}}}
	if err := ev.Sign(sk); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(ev)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodHead, o.Blossom+"/upload", nil)
	req.Header.Set("Authorization", "Nostr "+base64.StdEncoding.EncodeToString(raw))
	req.Header.Set("X-SHA-256", strings.Repeat("ab", 32))
	req.Header.Set("X-Content-Length", "1000")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pr, err := creq.Decode(resp.Header.Get("X-Cashu"))
	if resp.StatusCode != http.StatusPaymentRequired || err != nil || pr.Amount == 0 || pr.Mints[0] != net.Mint.URL() {
		t.Fatalf("HEAD /upload: %s %+v %v", resp.Status, pr, err)
	}
}
