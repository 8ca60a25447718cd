package agentd

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd/relays"
	"github.com/sovmesh/sovmesh/nips"
)

// queuedKinds are the kinds kept in the outbox (state.DB.QueueEvent) when
// no relay can be reached, and published once one answers: records that
// must reach the relays some time (receipts, attestations, SafeBox
// entries), not now.
var queuedKinds = []int{nips.KindReceipt, nips.KindAttestation, nips.KindSafeBox}

// maxFlush bounds the queued events one FlushOutbox publishes.
const maxFlush = 500

// PublishSigned publishes a signed event: to the LAN peers (see
// lan.Exchange.Publish) and to the relays. With no relay reachable, a
// receipt, attestation or SafeBox entry is queued in the outbox (nil
// error), and a market event that a LAN peer can see is published (nil);
// anything else returns the relays' error.
func (n *Node) PublishSigned(ctx context.Context, ev nostr.Event) error {
	// The LAN and the relays at once: a LAN peer slow to answer delays
	// no relay publish.
	lanDone := make(chan bool, 1)
	if n.lan != nil {
		if ev.Kind == nostr.KindDeletion {
			var addrs []string
			for t := range ev.Tags.FindAll("a") {
				addrs = append(addrs, t[1])
			}
			n.lan.Withdraw(addrs)
		}
		go func() { lanDone <- n.lan.Publish(ctx, ev) }()
	} else {
		lanDone <- false
	}
	err := n.Relays.Publish(ctx, ev)
	onLAN := <-lanDone
	if err == nil || !unreachable(err) {
		return err
	}
	if slices.Contains(queuedKinds, ev.Kind) {
		if qerr := n.DB.QueueEvent(ctx, ev); qerr != nil {
			return errors.Join(err, qerr)
		}
		n.Log.Info("event queued until a relay answers", "kind", ev.Kind, "id", ev.ID)
		return nil
	}
	if onLAN {
		n.Log.Debug("event published on the LAN only", "kind", ev.Kind, "id", ev.ID)
		return nil
	}
	return err
}

// unreachable reports whether a relays error means no relay could be
// reached (rather than one refusing).
func unreachable(err error) bool {
	return errors.Is(err, relays.ErrUnreachable) || errors.Is(err, relays.ErrRelayDown) || errors.Is(err, context.DeadlineExceeded)
}

// FlushOutbox publishes the queued events, oldest first, until none is
// left or no relay answers. An event a relay refuses is dropped (logged).
// It returns how many were published.
func (n *Node) FlushOutbox(ctx context.Context) (int, error) {
	evs, err := n.DB.QueuedEvents(ctx, maxFlush)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, ev := range evs {
		err := n.Relays.Publish(ctx, ev)
		if err != nil && unreachable(err) {
			return sent, fmt.Errorf("agentd: outbox: %w", err)
		}
		if err != nil {
			n.Log.Warn("queued event refused by the relays; dropped", "kind", ev.Kind, "id", ev.ID, "err", err)
		} else {
			sent++
		}
		if err := n.DB.DequeueEvent(ctx, ev.ID); err != nil {
			return sent, err
		}
	}
	if sent > 0 {
		n.Log.Info("queued events published", "count", sent)
	}
	return sent, nil
}

// outboxPublisher is the relay pool for the SafeBox, its publishes going
// through Node.PublishSigned (queued while no relay answers).
type outboxPublisher struct{ n *Node }

func (p outboxPublisher) Query(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error) {
	return p.n.Relays.Query(ctx, f)
}

func (p outboxPublisher) Publish(ctx context.Context, ev nostr.Event) error {
	return p.n.PublishSigned(ctx, ev)
}
