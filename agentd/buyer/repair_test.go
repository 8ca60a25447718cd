package buyer

import (
	"bytes"
	"context"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/safebox"
)

// TestRepairRestoresRedundancy: a file on 3 providers loses one; Repair
// finds it, rebuilds its shards from the other two onto the spare provider
// (paid), and republishes the SafeBox entry. An audit afterwards proves
// every shard on the three current providers, a second Repair finds
// nothing to do, and the file survives losing a second original provider.
func TestRepairRestoresRedundancy(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	byPub := map[string]*runningProvider{}
	for i := range 5 {
		// Which three die depends on the put's placement.
		p := startProviderWith(t, net, "prov"+string(rune('a'+i)), storageCfg(2_000_000), tcpOnly)
		byPub[p.Node.Key.Pubkey] = p
	}
	bn := net.Node(t, "buyer", 20_000)
	b, err := New(ctx, bn, Config{Replicas: 3, StorageDuration: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3<<20+777)
	rand.Read(data)
	e, err := b.Put(ctx, bytes.NewReader(data), "blob.bin", int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Providers) != 3 {
		t.Fatalf("put on %d providers, want 3", len(e.Providers))
	}
	var spares []string
	for pub := range byPub {
		if !slices.Contains(e.Providers, pub) {
			spares = append(spares, pub)
		}
	}

	// Healthy: nothing to do, nothing paid.
	before, _ := bn.Wallet.Balance(ctx)
	rep, err := b.Repair(ctx, e.Root)
	if err != nil || len(rep.Lost) != 0 || len(rep.Moves) != 0 {
		t.Fatalf("repair of a healthy file: %+v %v", rep, err)
	}
	if after, _ := bn.Wallet.Balance(ctx); after > before {
		t.Fatalf("balance %d -> %d after a repair that did nothing", before, after)
	}

	lost := e.Providers[1]
	byPub[lost].Kill()
	rep, err = b.Repair(ctx, e.Root)
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	if len(rep.Lost) != 1 || rep.Lost[0].Provider != lost || rep.Lost[0].Slot != 1 {
		t.Fatalf("lost %+v, want %s in slot 1", rep.Lost, lost)
	}
	if len(rep.Moves) != 1 || rep.Moves[0].From != lost || !slices.Contains(spares, rep.Moves[0].To) || rep.Moves[0].Shards < 2 || rep.Moves[0].Bytes < 1<<20 || rep.Sats == 0 {
		t.Fatalf("moves %+v (%d sats), want %s's shards on a spare (%v), paid", rep.Moves, rep.Sats, lost, spares)
	}
	spare := rep.Moves[0].To
	want := []string{e.Providers[0], spare, e.Providers[2]}
	// The SafeBox entry on the relay names the new placement (a box
	// without the local cache reads only the relay).
	relayOnly, err := safebox.New(bn.Key.Secret, bn.Relays)
	if err != nil {
		t.Fatal(err)
	}
	got, err := relayOnly.Get(ctx, e.Root)
	if err != nil || !slices.Equal(got.Providers, want) || got.Key != e.Key {
		t.Fatalf("SafeBox entry after repair: %v %v, want providers %v", got.Providers, err, want)
	}
	// Full redundancy: every provider proves its shards.
	reps, err := b.Audit(ctx, e.Root)
	if err != nil || len(reps) != 3 {
		t.Fatalf("audit after repair: %+v %v", reps, err)
	}
	for _, r := range reps {
		if r.Failed != 0 || r.Proved == 0 || !slices.Contains(want, r.Provider) {
			t.Fatalf("audit after repair: %+v", reps)
		}
	}
	// Idempotent.
	if rep, err := b.Repair(ctx, e.Root); err != nil || len(rep.Lost) != 0 {
		t.Fatalf("second repair: %+v %v", rep, err)
	}
	// Automatic repair: the new provider is lost too; one pass of the
	// loop moves its shards to the last spare. The manifest's four proof
	// rounds are used up by now, so the pass checks reachability.
	byPub[spare].Kill()
	last := spares[0]
	if last == spare {
		last = spares[1]
	}
	tick := make(chan time.Time)
	lctx, stop := context.WithCancel(ctx)
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); b.RepairLoop(lctx, tick, time.Minute) }()
	tick <- time.Now()
	tick <- time.Now() // taken once the first pass is over
	stop()
	<-loopDone
	want = []string{e.Providers[0], last, e.Providers[2]}
	if got, err := relayOnly.Get(ctx, e.Root); err != nil || !slices.Equal(got.Providers, want) {
		t.Fatalf("SafeBox entry after the automatic repair: %v %v, want providers %v", got.Providers, err, want)
	}
	fs, err := bn.DB.Files(ctx)
	if err != nil || len(fs) != 1 || !slices.Equal(fs[0].Providers, want) {
		t.Fatalf("local record after the automatic repair: %+v %v", fs, err)
	}
	// The repaired file survives losing another original provider.
	byPub[e.Providers[0]].Kill()
	var out bytes.Buffer
	if _, err := b.Get(ctx, e.Root, &out, nil); err != nil {
		t.Fatalf("get after repair and a second loss: %v", err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("file differs")
	}
}
