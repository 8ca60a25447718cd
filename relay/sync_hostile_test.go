package relay_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// TestSyncWithHostilePeer: Relay.Sync parses the peer's NIP-77 messages with
// the parser that crashed on the inputs; a peer sending them must
// not crash the relay, and its NEG-ERR ends the sync with its reason.
func TestSyncWithHostilePeer(t *testing.T) {
	up := websocket.Upgrader{}
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		if _, _, err := c.ReadMessage(); err != nil { // the NEG-OPEN
			return
		}
		for _, m := range append(crashInputs, `["NEG-ERR","go-nostr-tmp","blocked: hostile peer"]`) {
			if err := c.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
				return
			}
		}
		_, _, _ = c.ReadMessage() // until the client leaves
	}))
	defer peer.Close()
	s := relaytest.New(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := s.Sync(ctx, "ws"+strings.TrimPrefix(peer.URL, "http"), nostr.Filter{Kinds: []int{1}}, relay.SyncDown)
	if err == nil || !strings.Contains(err.Error(), "blocked: hostile peer") {
		t.Fatalf("sync error %v, want the peer's NEG-ERR", err)
	}
}
