package buyer

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/transport"
)

// ErrNotMoved means the new provider does not hold what the old one held.
var ErrNotMoved = errors.New("buyer: the new provider does not hold the old one's chunks")

// Moved records that provider to now holds what provider from held of
// the file root (its chunks carried there in a bundle: agentd/chunkbundle):
// it reads the file's manifest from to (which proves to holds the genuine
// root chunk), checks that to has every shard of from's slot, and only
// then names to in from's place in the SafeBox entry and the local record.
// It returns how many shards to holds for the file.
func (b *Buyer) Moved(ctx context.Context, root, from, to string) (int, error) {
	e, err := b.box.Get(ctx, root)
	if err != nil {
		return 0, fmt.Errorf("buyer: moved: %s: %w", root, err)
	}
	slot := slices.Index(e.Providers, from)
	if slot < 0 {
		return 0, fmt.Errorf("buyer: moved: %s is not a provider of %s", from, root)
	}
	if slices.Contains(e.Providers, to) {
		return 0, fmt.Errorf("buyer: moved: %s already holds a part of %s", to, root)
	}
	ne := e
	ne.Providers = slices.Clone(e.Providers)
	ne.Providers[slot] = to
	ne.From = ""
	ref, pay, payList, err := b.entryRef(ctx, ne)
	if err != nil {
		return 0, fmt.Errorf("buyer: moved: %w", err)
	}
	defer b.reconcileAll(ctx, payList)
	pid := ref.Providers[slot]
	if _, ok := pay[pid]; !ok {
		return 0, fmt.Errorf("buyer: moved: %s has no storage offer on the relays (start it as a provider first)", to)
	}
	man, err := b.host.FetchManifest(ctx, transport.Ref{Root: ref.Root, Key: ref.Key, Providers: ref.Providers[slot : slot+1]}, pay)
	if err != nil {
		return 0, fmt.Errorf("buyer: moved: %w: %w", ErrNotMoved, err)
	}
	if len(man.Providers) != len(ref.Providers) {
		return 0, fmt.Errorf("buyer: moved: the SafeBox entry names %d providers, the manifest %d", len(ref.Providers), len(man.Providers))
	}
	sc := b.host.Storage(pid, pay)
	held, missing := 0, 0
	for s, cids := range man.Stripes {
		for j, c := range cids {
			if c.IsZero() || man.ProviderOf(s, j) != slot {
				continue
			}
			ok, err := sc.Has(ctx, c)
			if err != nil {
				return held, fmt.Errorf("buyer: moved: %s: %w", to, err)
			}
			if !ok {
				missing++
				continue
			}
			held++
		}
	}
	if missing > 0 {
		return held, fmt.Errorf("%w: %s lacks %d of the %d shards %s held", ErrNotMoved, to, missing, held+missing, from)
	}
	if err := b.db.SetFileProviders(ctx, state.File{Root: ne.Root, Name: ne.Name, Size: ne.Size, Providers: ne.Providers}); err != nil {
		b.log.Warn("file not recorded locally", "err", err)
	}
	if err := b.box.Put(ctx, ne); err != nil {
		return held, fmt.Errorf("buyer: moved: the new SafeBox entry was not published (it is kept locally; run it again): %w", err)
	}
	return held, nil
}
