package relays

import (
	"context"
	"errors"
	"testing"

	"github.com/nbd-wtf/go-nostr"
)

// lanStandIn is a Local holding fixed events (agentd/lan's Exchange in
// production), recording whether a query was patient.
type lanStandIn struct {
	evs     []*nostr.Event
	patient []bool
}

func (l *lanStandIn) Query(_ context.Context, f nostr.Filter, patient bool) []*nostr.Event {
	l.patient = append(l.patient, patient)
	var out []*nostr.Event
	for _, ev := range l.evs {
		if f.Matches(ev) {
			out = append(out, ev)
		}
	}
	return out
}

func (l *lanStandIn) Subscribe(ctx context.Context, filters nostr.Filters, fn func(*nostr.Event)) {
	for _, ev := range l.evs {
		if filters.Match(ev) {
			fn(ev)
		}
	}
	<-ctx.Done()
}

// TestLocalWithNoRelay: with no relay reachable, Query answers from the
// local source (asking it patiently once the relays failed) and
// Subscribe delivers its events; with nothing there either, Query fails
// naming the relay.
func TestLocalWithNoRelay(t *testing.T) {
	url := refused(t)
	p, err := New([]string{url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ev := signed(t, "from the LAN")
	l := &lanStandIn{evs: []*nostr.Event{&ev}}
	p.SetLocal(l)

	got, err := p.Query(t.Context(), nostr.Filter{Kinds: []int{1}})
	if err != nil || len(got) != 1 || got[0].ID != ev.ID {
		t.Fatalf("query with the relay down: %v %v", got, err)
	}
	if len(l.patient) != 1 || l.patient[0] {
		t.Fatalf("queries of the local source %v, want one impatient (it answered)", l.patient)
	}
	_, err = p.Query(t.Context(), nostr.Filter{Kinds: []int{2}})
	if !errors.Is(err, ErrNoRelay) || !errors.Is(err, ErrRelayDown) && !errors.Is(err, ErrUnreachable) {
		t.Fatalf("query nobody answers: %v, want ErrNoRelay naming the relay", err)
	}
	if len(l.patient) != 3 || !l.patient[2] {
		t.Fatalf("queries of the local source %v, want a patient one after the relays failed", l.patient)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	delivered := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Subscribe(ctx, nostr.Filters{{Kinds: []int{1}}}, func(e *nostr.Event) { delivered <- e.ID }, nil)
	}()
	if id := <-delivered; id != ev.ID {
		t.Fatalf("subscription delivered %s, want %s", id, ev.ID)
	}
	cancel()
	<-done
}
