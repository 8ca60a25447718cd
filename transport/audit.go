package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// ErrAuditFailed reports a provider whose storage proof was wrong.
var ErrAuditFailed = errors.New("transport: storage proof wrong")

// AuditResult is the outcome of one storage-proof challenge.
type AuditResult struct {
	Provider peer.ID
	CID      chunk.CID
	Stripe   int
	Shard    int
	// Err is nil when the provider proved it holds the shard; it wraps
	// ErrAuditFailed for a wrong answer, or the error that prevented one.
	Err error
}

// auditStreams bounds the challenges Audit has in flight per provider.
const auditStreams = 4

// Audit challenges the providers of a file with the precomputed storage
// proofs in its manifest, using challenge number round (agentd counts
// rounds: a challenge already used may have been cached by the provider).
// It returns one result per audited shard; the error is for the audit as a
// whole (e.g. no round left).
//
// Every provider is dialled at once, and each is challenged as soon as it
// connects, in its own lane: a provider that does not answer holds up none
// of the others' challenges, and its shards fail with the dial's error
// once the dial gives up (Config.DialTimeout).
func (t *Host) Audit(ctx context.Context, ref Ref, man *chunk.Manifest, round int, payer Payer) ([]AuditResult, error) {
	if man == nil {
		var err error
		if man, err = t.FetchManifest(ctx, ref, payer); err != nil {
			return nil, err
		}
	}
	if len(man.Audits) == 0 {
		return nil, errors.New("transport: audit: manifest has no precomputed proofs")
	}
	peers, err := placement(ref, man)
	if err != nil {
		return nil, err
	}
	results := make([]AuditResult, len(man.Audits))
	lanes := map[peer.ID][]int{}
	var order []peer.ID
	for i, a := range man.Audits {
		if round < 0 || round >= len(a.Challenges) {
			return nil, fmt.Errorf("transport: audit: round %d, manifest has %d", round, len(a.Challenges))
		}
		pid := peers[man.ProviderOf(int(a.Stripe), int(a.Shard))]
		results[i] = AuditResult{Provider: pid, CID: man.Stripes[a.Stripe][a.Shard], Stripe: int(a.Stripe), Shard: int(a.Shard)}
		if lanes[pid] == nil {
			order = append(order, pid)
		}
		lanes[pid] = append(lanes[pid], i)
	}
	dctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	r := t.dialAll(dctx, nil, order, &wg)
	var g errgroup.Group
	for _, pid := range order {
		g.Go(func() error {
			if err := r.waitUp(ctx, pid); err != nil {
				for _, i := range lanes[pid] {
					results[i].Err = err
				}
				return nil
			}
			var lane errgroup.Group
			lane.SetLimit(auditStreams)
			for _, i := range lanes[pid] {
				a := man.Audits[i]
				lane.Go(func() error {
					got, err := t.Storage(pid, payer).Prove(ctx, results[i].CID, a.Challenges[round])
					switch {
					case err != nil:
						results[i].Err = err
					case got != a.Answers[round]:
						results[i].Err = fmt.Errorf("%w: %s for %s", ErrAuditFailed, pid, results[i].CID)
					}
					return nil
				})
			}
			return lane.Wait()
		})
	}
	_ = g.Wait()
	return results, ctx.Err()
}

// DeleteFile deletes every stored shard of a file and its manifest from its
// providers, authorized by this host's key. It tries every chunk and
// returns the errors joined; chunks already gone count as deleted.
func (t *Host) DeleteFile(ctx context.Context, ref Ref, man *chunk.Manifest, payer Payer) error {
	if man == nil {
		var err error
		if man, err = t.FetchManifest(ctx, ref, payer); err != nil {
			return err
		}
	}
	peers, err := placement(ref, man)
	if err != nil {
		return err
	}
	var mu = make(chan struct{}, 1)
	var errs []error
	var g errgroup.Group
	g.SetLimit(8)
	add := func(err error) {
		if err != nil && !errors.Is(err, ErrNotFound) {
			mu <- struct{}{}
			errs = append(errs, err)
			<-mu
		}
	}
	for s, st := range man.Stripes {
		for j, c := range st {
			if c.IsZero() {
				continue
			}
			pid := peers[man.ProviderOf(s, j)]
			g.Go(func() error { add(t.Storage(pid, payer).Delete(ctx, c)); return nil })
		}
	}
	_ = g.Wait()
	for _, p := range ref.Providers {
		add(t.Storage(p, payer).Delete(ctx, ref.Root))
	}
	return errors.Join(errs...)
}
