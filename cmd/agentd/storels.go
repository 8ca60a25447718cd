package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/buyer"
)

// lsRelayWait is how long store ls waits for the relays before listing
// from the local cache alone.
const lsRelayWait = 5 * time.Second

// storeList lists our files: the SafeBox entries on the relays merged with
// the local cache of them, and files this machine recorded that have no
// entry, each marked with where it was found.
func storeList(ctx context.Context, e *env, n *agentd.Node) error {
	l, err := n.Box().ListSources(ctx, lsRelayWait)
	if err != nil {
		return err
	}
	if l.RelayErr != nil {
		fmt.Fprintf(e.stderr, "agentd: no relay answered (%v): listed from the local cache\n", l.RelayErr)
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROOT\tNAME\tSIZE\tPROVIDERS\tSTORED\tSOURCE")
	seen := map[string]bool{}
	for _, x := range l.Entries {
		seen[x.Root] = true
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", x.Root, x.Name, x.Size, len(x.Providers), time.Unix(x.Created, 0).UTC().Format(time.DateTime), x.Source())
	}
	fs, err := n.DB.Files(ctx)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if seen[f.Root] || len(f.Providers) == 0 {
			continue // listed, or only an audit counter
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", f.Root, f.Name, f.Size, len(f.Providers), f.CreatedAt.UTC().Format(time.DateTime), "local (no SafeBox entry)")
	}
	if err := listUnfinished(ctx, tw, n.DB); err != nil {
		return err
	}
	return tw.Flush()
}

// storeRepair repairs one file and says what was lost, what was rebuilt
// where, and what it cost.
func storeRepair(ctx context.Context, e *env, b *buyer.Buyer, root string) error {
	rep, err := b.Repair(ctx, root)
	for _, l := range rep.Lost {
		fmt.Fprintf(e.stdout, "lost      %s (provider %d): %s\n", l.Provider, l.Slot+1, l.Reason)
	}
	for _, m := range rep.Moves {
		fmt.Fprintf(e.stdout, "rebuilt   %d chunks (%d bytes) of %s on %s: %d sats\n", m.Shards, m.Bytes, m.From, m.To, m.Sats)
	}
	if err != nil {
		return err
	}
	if len(rep.Lost) == 0 {
		fmt.Fprintf(e.stderr, "agentd: %s is healthy (checked by %s): nothing to do\n", root, rep.Checked)
		return nil
	}
	fmt.Fprintf(e.stderr, "agentd: %s back to full redundancy (checked by %s); the new storage costs %d sats (at most %d paid ahead); its SafeBox entry names the new providers\n",
		root, rep.Checked, rep.Sats, rep.Cap)
	return nil
}
