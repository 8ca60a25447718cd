package relay_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// TestAnswer: an answered ephemeral kind passes the policies, gets the
// answer's OK, and reaches no subscriber; only ephemeral kinds, once each,
// can be answered; WithAuthChallenge lets a client authenticate unasked.
func TestAnswer(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []relay.Option
	}{
		{"regular kind", []relay.Option{relay.WithAnswer("x", 1, nil)}},
		{"twice", []relay.Option{relay.WithAnswer("x", 20002, nil), relay.WithAnswer("y", 20002, nil)}},
	} {
		cfg := relay.DefaultConfig()
		cfg.DataDir = t.TempDir()
		st, err := relay.OpenStore(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := relay.New(cfg, st, tc.opts...); !errors.Is(err, relay.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", tc.name, err)
		}
		// New took the store over, so it closed it when it failed.
		if err := st.Ping(t.Context()); err == nil {
			t.Errorf("%s: the store is still open after New failed", tc.name)
		}
	}

	const asked, marker = 20002, 20003
	var (
		mu     sync.Mutex
		authed []string
	)
	srv := relaytest.New(t, nil, relay.WithAuthChallenge(), relay.WithAnswer("test", asked, func(ctx context.Context, evt *nostr.Event) (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		authed = append(authed, relay.AuthedPubkey(ctx))
		if evt.Content == "refuse" {
			return false, "blocked: refused"
		}
		return true, "answered"
	}))
	watcher := connect(t, srv.URL)
	sub, err := watcher.Subscribe(t.Context(), nostr.Filters{{Kinds: []int{asked, marker}}})
	if err != nil {
		t.Fatal(err)
	}
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	rl := connect(t, srv.URL)
	authenticate(t, rl, sk) // the challenge came on connect
	mustPublish(t, rl, signed(t, sk, asked, nostr.Now(), nil, "hello"))
	wantRejected(t, rl, signed(t, sk, asked, nostr.Now(), nil, "refuse"), "blocked: refused")
	wantRejected(t, rl, signed(t, sk, asked, nostr.Now()+3600, nil, "late"), "invalid:") // policies first
	if err := srv.Publish(t.Context(), signed(t, sk, asked, nostr.Now(), nil, "internal")); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, rl, signed(t, sk, marker, nostr.Now(), nil, "marker"))
	select {
	case evt := <-sub.Events:
		if evt.Kind != marker {
			t.Fatalf("subscriber got an answered event: %v", evt)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("marker not delivered")
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(authed, ",") != pk+","+pk+"," {
		t.Fatalf("answer saw AUTH %q, want the client's key twice and none for the internal publication", authed)
	}
}
