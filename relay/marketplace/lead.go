package marketplace

import (
	"context"
	"time"
)

// leader elects, among the relay processes sharing one event store, the one
// that runs the matching engine (relay/pgstore does, with an advisory
// lock). A store that is not shared (SQLite: one relay per data directory)
// has no such method, and its relay always leads.
type leader interface {
	// TryLead makes this process the leader if none is, at once. The
	// context it returns ends when the lead is lost (or ctx ends).
	TryLead(ctx context.Context) (lead context.Context, ok bool, err error)
}

// keyedStore is a store several relay processes share that makes sure they
// all sign the market with one relay key (relay/pgstore does).
type keyedStore interface {
	ClaimMarketKey(ctx context.Context, pubkey string) error
}

// soleLeader is the leader of a store no other process shares.
type soleLeader struct{}

func (soleLeader) TryLead(ctx context.Context) (context.Context, bool, error) { return ctx, true, nil }

// LeadPollInterval is how often a relay that does not run the matching
// engine tries to take it over; a leader that dies is replaced within about
// this long.
const LeadPollInterval = time.Second

// leadership is one lead this process took: ctx ends when it is lost, and
// release gives it up.
type leadership struct {
	ctx     context.Context
	release context.CancelFunc
}

// tryLead calls l.TryLead with a context of its own, so the lead can be
// given up.
func tryLead(ctx context.Context, l leader) (leadership, bool, error) {
	lctx, release := context.WithCancel(ctx)
	lead, ok, err := l.TryLead(lctx)
	if err != nil || !ok {
		release()
		return leadership{}, false, err
	}
	return leadership{lead, release}, true, nil
}

// leadLoop hands the matching goroutine a context each time this process
// becomes the leader: first (when it did not lead at Start) after polling
// TryLead, then again after each lead it loses. It owns no market state.
func (m *Marketplace) leadLoop(ctx context.Context, l leader, lead context.Context) {
	t := time.NewTicker(LeadPollInterval)
	defer t.Stop()
	for {
		if lead != nil {
			select {
			case <-ctx.Done():
				return
			case <-lead.Done():
			}
			if ctx.Err() != nil {
				return
			}
			m.log.Warn("matching engine lead lost; publishing no matches until it is taken again")
			lead = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		next, ok, err := tryLead(ctx, l)
		if err != nil {
			m.log.Warn("matching engine lead not taken", "err", err)
			continue
		}
		if !ok {
			continue
		}
		select {
		case m.leads <- next:
			lead = next.ctx
		case <-ctx.Done():
			next.release()
			return
		}
	}
}

// leading reports whether this process runs the matching engine now.
func (m *Marketplace) leading() bool {
	lead := m.lead.Load()
	return lead != nil && (*lead).Err() == nil
}

// takeOver makes this process the matcher after another one led: the books
// this process kept as a follower hold fills nobody published, so they are
// rebuilt from the store, publishing the matches the old leader left
// unpublished. It runs in the matching goroutine.
func (m *Marketplace) takeOver(ctx context.Context, lead leadership) {
	err := m.x.Reset()
	if err == nil {
		m.lead.Store(&lead.ctx)
		m.log.Info("matching engine lead taken")
		err = m.replay(ctx, true)
	}
	if err != nil {
		// Give the lead up; this or another process takes it again.
		m.log.Warn("matching engine lead given up: the book could not be rebuilt", "err", err)
		m.lead.Store(nil)
		lead.release()
	}
}

// resume is called when this relay listens again for the events other
// processes store, after missing some: the matching goroutine rebuilds the
// book from the store, so a bid stored meanwhile is matched.
func (m *Marketplace) resume() {
	select {
	case m.rebuild <- struct{}{}:
	default: // a rebuild is pending already
	}
}

// rebook rebuilds the book from the store, publishing (when this process
// leads) the fills whose match is missing. It runs in the matching
// goroutine.
func (m *Marketplace) rebook(ctx context.Context) {
	err := m.x.Reset()
	if err == nil {
		err = m.replay(ctx, m.leading())
	}
	if err != nil {
		m.log.Warn("order book not rebuilt after missed events; rebuilt at the next takeover or start", "err", err)
		return
	}
	m.log.Info("order book rebuilt after missed events")
}
