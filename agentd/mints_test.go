package agentd

import (
	"log/slog"
	"net"
	"slices"
	"testing"

	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// The mints come from every relay's NIP-11 document, each once, in the
// order of the relays; a relay that does not answer adds none. Open read
// the first relay's only.
func TestRelayMintsFromEveryRelay(t *testing.T) {
	withMints := func(mints ...string) string {
		return relaytest.New(t, nil, relay.WithInfo(func(i *relay.Info) { i.Mints = mints })).URL
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "ws://" + ln.Addr().String()
	ln.Close()
	relays := []string{
		down,
		withMints("https://mint.a.example", "https://mint.b.example/"),
		withMints(),
		withMints("https://mint.c.example", "HTTPS://MINT.A.EXAMPLE"),
	}
	got, unreachable := relayMints(t.Context(), relays, slog.New(slog.DiscardHandler))
	want := []string{"https://mint.a.example", "https://mint.b.example", "https://mint.c.example"}
	if !slices.Equal(got, want) || !slices.Equal(unreachable, []string{down}) {
		t.Fatalf("mints %q (unreachable %q), want %q (unreachable %q)", got, unreachable, want, down)
	}
}
