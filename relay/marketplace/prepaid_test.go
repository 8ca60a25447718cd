package marketplace_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/marketplace"
)

// wire is a bare NIP-01 websocket client. go-nostr's Publish drops the
// message of an OK true, and a top-up's answer is in it.
type wire struct {
	t    *testing.T
	url  string
	ws   *websocket.Conn
	msgs chan []json.RawMessage
}

func dial(t *testing.T, url string) *wire {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{t: t, url: url, ws: ws, msgs: make(chan []json.RawMessage, 64)}
	done := make(chan struct{})
	go func() {
		defer close(w.msgs)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var m []json.RawMessage
			if json.Unmarshal(b, &m) != nil || len(m) == 0 {
				continue
			}
			select {
			case w.msgs <- m:
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		ws.Close()
	})
	return w
}

// next returns the next message labelled label that match accepts (nil:
// any), skipping others, within 10 seconds.
func (w *wire) next(label string, match func([]json.RawMessage) bool) []json.RawMessage {
	w.t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case m, ok := <-w.msgs:
			if !ok {
				w.t.Fatalf("connection closed while waiting for %s", label)
			}
			var l string
			if json.Unmarshal(m[0], &l) == nil && l == label && (match == nil || match(m)) {
				return m
			}
		case <-timeout.C:
			w.t.Fatalf("no %s from the relay within 10 s", label)
		}
	}
}

// roundTrip sends [label, evt] and returns the relay's OK for it.
func (w *wire) roundTrip(label string, evt *nostr.Event) (bool, string) {
	w.t.Helper()
	b, _ := json.Marshal([]any{label, evt})
	if err := w.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		w.t.Fatal(err)
	}
	m := w.next("OK", func(m []json.RawMessage) bool {
		var id string
		return len(m) == 4 && json.Unmarshal(m[1], &id) == nil && id == evt.ID
	})
	var ok bool
	var msg string
	if json.Unmarshal(m[2], &ok) != nil || json.Unmarshal(m[3], &msg) != nil {
		w.t.Fatalf("bad OK %s", m)
	}
	return ok, msg
}

func (w *wire) publish(evt *nostr.Event) (bool, string) {
	w.t.Helper()
	return w.roundTrip("EVENT", evt)
}

// auth answers the NIP-42 challenge the relay sends on connect, as sk.
func (w *wire) auth(sk string) {
	w.t.Helper()
	m := w.next("AUTH", nil)
	var challenge string
	if len(m) < 2 || json.Unmarshal(m[1], &challenge) != nil || challenge == "" {
		w.t.Fatalf("bad AUTH challenge %s", m)
	}
	evt := sign(w.t, nostr.Event{Kind: nostr.KindClientAuthentication, CreatedAt: nostr.Now(),
		Tags: nostr.Tags{{"relay", w.url}, {"challenge", challenge}}}, sk)
	if ok, msg := w.roundTrip("AUTH", evt); !ok {
		w.t.Fatalf("AUTH refused: %s", msg)
	}
}

// TestPrepaidBalance runs the prepaid flow over a real relay, with and
// without AUTH required for writes: a client authenticated as A tops up its
// balance with a top-up event, publishes offers without tokens that are
// charged from it, and is refused once the balance is short; B, with no
// balance, is refused; refused tokens credit nothing; and the top-up event
// reaches no subscriber.
func TestPrepaidBalance(t *testing.T) {
	mint, err := devmint.Start(t.Context(), t.TempDir(), devmint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mint.Shutdown(context.Background()) })
	const fee = 2
	for _, mode := range []struct {
		auth relay.AuthMode
		// wantUnauthed is the OK prefix of a top-up sent without AUTH
		// ("" = credited to its author).
		wantUnauthed string
	}{
		{relay.AuthNone, ""},
		{relay.AuthWrites, "auth-required:"},
	} {
		t.Run("auth="+string(mode.auth), func(t *testing.T) {
			ctx := t.Context()
			relayWallet := openWallet(t, mint.URL(), "relay", nostr.GeneratePrivateKey())
			col, err := fees.New(relayWallet.Journal(), relayWallet, fees.Config{Publication: map[int]uint64{nips.KindOffer: fee}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			tm := start(t, nil, func(c *relay.Config) { c.Auth = mode.auth }, marketplace.FeeOptions(col, []string{mint.URL()}, true)...)
			skA, skB, skC := nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey(), nostr.GeneratePrivateKey()
			pkA, _ := nostr.GetPublicKey(skA)
			pkC, _ := nostr.GetPublicKey(skC)
			payer := openWallet(t, mint.URL(), "payer", skA)
			if err := payer.Fund(ctx, 20); err != nil {
				t.Fatal(err)
			}
			token := func(n uint64) string {
				t.Helper()
				s, err := payer.Send(ctx, n, cashu.SendOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return s.Token
			}
			// topUp signs a new top-up event (each a second older than the
			// last, so that the same token makes a different event).
			// The ages count from one fixed time: counted from each call's
			// now, two top-ups made a second apart had the same created_at,
			// so the same id, and the second was answered as a resend.
			base, age := nostr.Now(), nostr.Timestamp(0)
			topUp := func(sk, tok string) *nostr.Event {
				age++
				return sign(t, nips.TopUp{Token: tok}.ToEvent(base-age), sk)
			}
			balance := func(pk string) uint64 {
				t.Helper()
				b, err := col.Balance(ctx, pk)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			wallet := func() uint64 {
				t.Helper()
				b, err := relayWallet.Balance(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			earned := func() uint64 {
				t.Helper()
				days, err := col.Earnings(ctx, time.Now().Add(-24*time.Hour), time.Now().Add(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				var sum uint64
				for _, d := range days {
					sum += d.Publication + d.Matching
				}
				return sum
			}
			// A subscriber to the top-up kind, to show nothing is broadcast.
			const marker = 20001
			watcher := connect(t, tm.URL)
			sub, err := watcher.Subscribe(ctx, nostr.Filters{{Kinds: []int{nips.KindTopUp, marker}}})
			if err != nil {
				t.Fatal(err)
			}

			a := dial(t, tm.URL)
			a.auth(skA)
			tok := token(5)
			first := topUp(skA, tok)
			if ok, msg := a.publish(first); !ok || msg != "credited 5 sats; balance 5 sats" {
				t.Fatalf("top-up: %v %q", ok, msg)
			}
			if w := wallet(); w != 5 {
				t.Fatalf("relay wallet %d after the top-up, want 5", w)
			}
			// The top-up reached no subscriber: the marker sent after it is
			// the first event the subscriber sees.
			if ok, msg := a.publish(sign(t, nostr.Event{Kind: marker, CreatedAt: nostr.Now()}, skA)); !ok {
				t.Fatalf("marker: %s", msg)
			}
			select {
			case evt := <-sub.Events:
				if evt.Kind != marker {
					t.Fatalf("subscriber got kind %d, want only the marker", evt.Kind)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the marker did not arrive")
			}

			// Two offers without a token are charged from A's balance: the
			// fees are earned, and the wallet already holds their sats.
			for i, want := range []uint64{3, 1} {
				if ok, msg := a.publish(offer(t, skA, fmt.Sprintf("prepaid-%d", i), 40, "u0yjj")); !ok {
					t.Fatalf("offer %d: %s", i, msg)
				}
				if b := balance(pkA); b != want {
					t.Fatalf("balance after offer %d: %d, want %d", i, b, want)
				}
				if e := earned(); e != uint64(i+1)*fee {
					t.Fatalf("earned %d after offer %d, want %d", e, i, uint64(i+1)*fee)
				}
			}
			if w := wallet(); w != 5 {
				t.Fatalf("relay wallet %d, want 5", w)
			}
			// A third is over the balance, and the refusal says by how much.
			ok, msg := a.publish(offer(t, skA, "prepaid-2", 40, "u0yjj"))
			if ok || !strings.HasPrefix(msg, "payment-required:") || !strings.Contains(msg, "fee is 2 sat") || !strings.Contains(msg, "is 1 sat") {
				t.Fatalf("offer over the balance: %v %q", ok, msg)
			}
			t.Logf("over the balance: %s", msg)
			// The same top-up again is answered with its outcome, not
			// redeemed a second time.
			if ok, msg := a.publish(first); !ok || msg != "credited 5 sats; balance 1 sats" {
				t.Fatalf("resent top-up: %v %q", ok, msg)
			}

			// B is authenticated but has no balance.
			b := dial(t, tm.URL)
			b.auth(skB)
			ok, msg = b.publish(offer(t, skB, "b-0", 40, "u0yjj"))
			if ok || !strings.HasPrefix(msg, "payment-required:") || !strings.Contains(msg, "fee is 2 sat") || !strings.Contains(msg, "is 0 sat") {
				t.Fatalf("offer of B: %v %q", ok, msg)
			}

			// Refused tokens credit nothing, and the answer does not quote them.
			spent := token(3)
			if _, err := openWallet(t, mint.URL(), "thief", nostr.GeneratePrivateKey()).Receive(ctx, spent, cashu.ReceiveOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct{ name, token, want string }{
				{"spent at the mint", spent, "already spent"},
				{"already taken by the relay", tok, "already received"},
				{"not a token", "cashuBAAAA", "malformed"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ok, msg := a.publish(topUp(skA, tc.token))
					if ok || !strings.HasPrefix(msg, "blocked:") || !strings.Contains(msg, tc.want) || !strings.Contains(msg, "nothing credited") {
						t.Fatalf("top-up: %v %q, want blocked: ... %s ... nothing credited", ok, msg, tc.want)
					}
					t.Logf("refused: %s", msg)
					if strings.Contains(msg, tc.token) {
						t.Fatal("the refusal quotes the token")
					}
					if b, w := balance(pkA), wallet(); b != 1 || w != 5 {
						t.Fatalf("balance %d, relay wallet %d after a refused top-up; want 1 and 5", b, w)
					}
				})
			}

			// Without AUTH, a top-up credits its author, unless the relay
			// requires AUTH for writes.
			c := dial(t, tm.URL)
			ok, msg = c.publish(topUp(skC, token(4)))
			switch {
			case mode.wantUnauthed == "" && (!ok || msg != "credited 4 sats; balance 4 sats"):
				t.Fatalf("top-up without AUTH: %v %q", ok, msg)
			case mode.wantUnauthed != "" && (ok || !strings.HasPrefix(msg, mode.wantUnauthed)):
				t.Fatalf("top-up without AUTH: %v %q, want %s", ok, msg, mode.wantUnauthed)
			}
			wantC := uint64(0)
			if mode.wantUnauthed == "" {
				wantC = 4
			}
			if got := balance(pkC); got != wantC {
				t.Fatalf("balance of C %d, want %d", got, wantC)
			}
		})
	}
}
