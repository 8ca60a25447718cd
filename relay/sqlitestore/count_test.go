package sqlitestore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"
)

// TestPingWithReadersBusy: /healthz's probe answers while every reader
// connection is held by a query nobody drains.
func TestPingWithReadersBusy(t *testing.T) {
	s, _ := openTemp(t, WithReaders(1))
	defer s.Close()
	sk := nostr.GeneratePrivateKey()
	for i := range 3 * queryBuffer {
		evt := &nostr.Event{Kind: 1, CreatedAt: nostr.Now() - nostr.Timestamp(i), Content: fmt.Sprint(i)}
		if err := evt.Sign(sk); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveEvent(t.Context(), evt); err != nil {
			t.Fatal(err)
		}
	}
	qctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := s.QueryEvents(qctx, nostr.Filter{}) // holds the one reader: its channel is full
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	ctx, cancelPing := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancelPing()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping with the reader busy: %v", err)
	}
	cancel()
	for range ch {
	}
}
