package buyer

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/state"
)

// cutReader serves r up to cut bytes, then blocks until ctx ends: a put
// that stops mid-file, with every stripe before the cut sent.
type cutReader struct {
	ctx context.Context
	r   io.Reader
	cut int64
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.cut == 0 {
		<-c.ctx.Done()
		return 0, c.ctx.Err()
	}
	n, err := c.r.Read(p[:min(int64(len(p)), c.cut)])
	c.cut -= int64(n)
	return n, err
}

// chunkFiles counts the chunks a provider holds on disk.
func chunkFiles(t *testing.T, p *runningProvider) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(p.Node.Config.DataDir, "chunks"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(path) == ".chunk" {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPutResumes: a put interrupted mid-file is listed as unfinished and
// resumes: the stripes it stored are neither sent nor paid again, so the
// providers hold no orphan chunk and the buyer pays what a clean put of the
// same size costs (within one payment step per provider); the file reads
// back intact and the journal is empty.
func TestPutResumes(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	// Two providers: each stripe is one data and one parity shard.
	provs := []*runningProvider{
		startProvider(t, net, "prova", storageCfg(8_000_000)),
		startProvider(t, net, "provb", storageCfg(8_000_000)),
	}
	cfg := Config{StorageDuration: 7 * 24 * time.Hour, Replicas: 2, StepBytes: 1 << 20}
	size := 4<<20 + 1234 // 5 stripes
	spend := func(name string, put func(b *Buyer) error) uint64 {
		t.Helper()
		bn := net.Node(t, name, 20000)
		b, err := New(ctx, bn, cfg)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := bn.Wallet.Balance(ctx)
		if err := put(b); err != nil {
			t.Fatal(err)
		}
		// A payment cut off with the stream never reached its provider:
		// the daemon takes such tokens back after its grace (ReclaimLoop);
		// here at once, so the cost is what providers were paid.
		bn.Config.ReclaimGrace = 0
		if _, err := bn.ReclaimStale(ctx); err != nil {
			t.Fatal(err)
		}
		after, _ := bn.Wallet.Balance(ctx)
		return before - after
	}
	clean := make([]byte, size)
	rand.Read(clean)
	cleanSpent := spend("clean", func(b *Buyer) error {
		_, err := b.Put(ctx, bytes.NewReader(clean), "clean", int64(size), nil)
		return err
	})
	held := []int{chunkFiles(t, provs[0]), chunkFiles(t, provs[1])}

	data := make([]byte, size)
	rand.Read(data)
	up := Upload{Path: "/data/f.bin", Name: "f.bin", Size: int64(size), ModTime: time.Unix(1700000000, 5)}
	var root string
	var interrupted []string
	resumedSpent := spend("resumer", func(b *Buyer) error {
		interrupt(t, b, data, up)
		ps, err := b.UnfinishedPuts(ctx)
		if err != nil || len(ps) != 1 || len(ps[0].Sessions) != len(provs) || slices.Contains(ps[0].Sessions, "") {
			t.Fatalf("the interrupted put's sessions are not journaled: %+v %v", ps, err)
		}
		interrupted = ps[0].Sessions
		// A put of another file does not resume it.
		if _, err := b.PutFile(ctx, bytes.NewReader(data), Upload{Path: "/data/other", Size: int64(size)}, true, nil); !errors.Is(err, ErrNoUnfinishedPut) {
			t.Fatalf("resume of a file never put: %v", err)
		}
		e, err := b.PutFile(ctx, bytes.NewReader(data), up, true, nil)
		if err != nil {
			return err
		}
		root = e.Root
		// The resumed put paid in the interrupted put's sessions (their
		// providers still held them open) and settled them.
		for _, id := range interrupted {
			if st, err := b.db.GetSession(ctx, id); err != nil || st.ReceiptID == "" {
				t.Errorf("session %s of the interrupted put was not resumed and settled: %+v %v", id, st, err)
			}
		}
		if ps, err := b.UnfinishedPuts(ctx); err != nil || len(ps) != 0 {
			t.Fatalf("unfinished puts after the resume: %+v %v", ps, err)
		}
		var out bytes.Buffer
		if _, err := b.Get(ctx, root, &out, nil); err != nil {
			return err
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatal("resumed file differs")
		}
		return nil
	})
	// No orphan: each provider holds the clean put's count of chunks again
	// (5 shards and the manifest), not more.
	for i, p := range provs {
		if got := chunkFiles(t, p) - held[i]; got != held[i] {
			t.Errorf("provider %d: the resumed put left %d chunks, a clean put %d", i, got, held[i])
		}
	}
	// Paid what a clean put costs, within one step per provider (one
	// chunk, 1 MiB for 7 days at 8000 sats/GiB-day: 55 sats) and the
	// extra mint fees of the interrupted attempt's steps, plus the step
	// each provider asked for ahead: the interrupted put paid one step
	// beyond what it stored, and that credit, the buyer's at the provider
	// (nips/offer.md "Unused credit"), is not known to the resumed put,
	// whose payer again keeps one step ahead (a clean put's last step
	// ahead is declined at its cap). Sending the 2 stored stripes again
	// would cost 220 sats more.
	const step = 56
	diff := int64(resumedSpent) - int64(cleanSpent)
	if diff < -2*step || diff > 2*step+int64(len(provs))*step {
		t.Fatalf("the interrupted and resumed put cost %d sats, a clean put %d", resumedSpent, cleanSpent)
	}
	t.Logf("clean put %d sats, interrupted and resumed %d", cleanSpent, resumedSpent)
}

// TestPutAbort: an interrupted put aborted deletes every chunk it stored
// on the providers that answer, reports the others, and leaves nothing in
// the journal.
func TestPutAbort(t *testing.T) {
	ctx := t.Context()
	provs, b, _, _ := interruptedPut(t, "a.bin")
	for i, p := range provs {
		if n := chunkFiles(t, p); n < 2 {
			t.Fatalf("provider %d holds %d chunks of the interrupted put, want at least 2", i, n)
		}
	}
	ps, err := b.UnfinishedPuts(ctx)
	if err != nil || len(ps) != 1 {
		t.Fatalf("unfinished puts: %+v %v", ps, err)
	}
	// One provider is gone: the abort deletes what the other holds, says
	// some chunks remain, and forgets the put all the same.
	left := chunkFiles(t, provs[1])
	provs[1].Kill()
	n, err := b.AbortPut(ctx, ps[0].ID)
	if err == nil || !strings.Contains(err.Error(), "not deleted") || n < 2 {
		t.Fatalf("abort: %d chunks deleted, %v", n, err)
	}
	if got := chunkFiles(t, provs[0]); got != 0 {
		t.Errorf("the provider that answers still holds %d chunks of the aborted put", got)
	}
	if got := chunkFiles(t, provs[1]); got != left {
		t.Errorf("the gone provider holds %d chunks, had %d", got, left)
	}
	if ps, err := b.UnfinishedPuts(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("unfinished puts after the abort: %+v %v", ps, err)
	}
	if _, err := b.AbortPut(ctx, ps[0].ID); err == nil {
		t.Fatal("a put aborted twice")
	}
}

// interruptedPut starts two storage providers and a buyer, and leaves a
// put of 5 stripes (random data, as /data/NAME) unfinished on them (see
// interrupt).
func interruptedPut(t *testing.T, name string) ([]*runningProvider, *Buyer, []byte, Upload) {
	t.Helper()
	net := agentdtest.Start(t)
	provs := []*runningProvider{
		startProvider(t, net, "prova", storageCfg(8_000_000)),
		startProviderWith(t, net, "provb", storageCfg(8_000_000), tcpOnly), // TestPutAbort kills it
	}
	b, err := New(t.Context(), net.Node(t, "buyer", 20000), Config{StorageDuration: 7 * 24 * time.Hour, Replicas: 2, StepBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 4<<20+1234)
	rand.Read(data)
	up := Upload{Path: "/data/" + name, Name: name, Size: int64(len(data)), ModTime: time.Unix(1700000000, 0)}
	interrupt(t, b, data, up)
	return provs, b, data, up
}

// interrupt starts a put of data as up and cancels it once its first 2
// stripes are stored (the reader stops there): the put stays unfinished
// with exactly those 2 stripes stored.
func interrupt(t *testing.T, b *Buyer, data []byte, up Upload) {
	t.Helper()
	interruptAt(t, b, data, up, 2<<20)
}

// interruptAt is interrupt with the put cut after cut bytes, a whole
// number of stripes: it waits until the journal says every stripe before
// the cut is stored.
func interruptAt(t *testing.T, b *Buyer, data []byte, up Upload, cut int64) {
	t.Helper()
	ctx := t.Context()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := b.PutFile(pctx, &seekCut{cutReader{ctx: pctx, r: bytes.NewReader(data), cut: cut}}, up, false, nil)
		errc <- err
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ps, err := b.UnfinishedPuts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == 1 && storedBytes(ps[0]) == cut {
			break
		}
		select {
		case err := <-errc:
			t.Fatalf("put ended before the cut: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stripes before byte %d were not stored: %+v", cut, ps)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted put: %v", err)
	}
	ps, err := b.UnfinishedPuts(ctx)
	if err != nil || len(ps) != 1 || storedBytes(ps[0]) != cut || ps[0].Path != up.Path {
		t.Fatalf("unfinished puts after the interruption: %+v %v", ps, err)
	}
}

// storedBytes is the plaintext an unfinished put's stored stripes hold.
func storedBytes(p state.Put) int64 {
	return int64(p.Stored) * int64(p.ChunkSize) * int64(p.DataShards)
}

// seekCut is a cutReader a put may rewind: it never needs to.
type seekCut struct{ cutReader }

func (s *seekCut) Seek(int64, int) (int64, error) { return 0, errors.New("not rewindable") }

// TestPutStartsOverWithFewerProviders: a put over 3 providers whose
// provider dies mid-put, with no other to replace it, cannot resume under
// its 2+1 code: it starts over on the 2 left (1+1), deleting what the
// abandoned attempt stored there, and the file reads back.
func TestPutStartsOverWithFewerProviders(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	var provs []*runningProvider
	for i := range 3 {
		provs = append(provs, startProviderWith(t, net, "prov"+string(rune('a'+i)), storageCfg(2_000_000), killable(i == 0)))
	}
	bn := net.Node(t, "buyer", 5000)
	b, err := New(ctx, bn, Config{StorageDuration: 24 * time.Hour, StepBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 8<<20)
	rand.Read(data)
	var once sync.Once
	e, err := b.Put(ctx, bytes.NewReader(data), "f", int64(len(data)), func(done, total int64) {
		if done > total/3 {
			once.Do(provs[0].Kill)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Providers) != 2 || slices.Contains(e.Providers, provs[0].Node.Key.Pubkey) {
		t.Fatalf("stored on %v", e.Providers)
	}
	if ps, err := b.UnfinishedPuts(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("unfinished puts: %+v %v", ps, err)
	}
	// The survivors hold the 1+1 put only: 8 shards and the manifest each.
	for _, p := range provs[1:] {
		if n := chunkFiles(t, p); n != 9 {
			t.Errorf("provider holds %d chunks, want 9", n)
		}
	}
	var out bytes.Buffer
	if _, err := b.Get(ctx, e.Root, &out, nil); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("get: %v (same bytes: %v)", err, bytes.Equal(out.Bytes(), data))
	}
}

// TestPutResumesInNewSessions: a resumed put whose providers closed the
// interrupted put's sessions meanwhile opens new ones (the closed ones are
// refused, not paid in nor settled: they end failed) and the file reads
// back.
func TestPutResumesInNewSessions(t *testing.T) {
	ctx := t.Context()
	provs, b, data, up := interruptedPut(t, "c.bin")
	ps, err := b.UnfinishedPuts(ctx)
	if err != nil || len(ps) != 1 || len(ps[0].Sessions) != len(provs) {
		t.Fatalf("unfinished puts: %+v %v", ps, err)
	}
	old := ps[0].Sessions
	for _, p := range provs {
		i := slices.Index(ps[0].Providers, p.Node.Key.Pubkey)
		if err := p.Node.DB.FinishSession(ctx, old[i], "done", ""); err != nil {
			t.Fatal(err)
		}
	}
	e, err := b.PutFile(ctx, bytes.NewReader(data), up, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range old {
		if st, err := b.db.GetSession(ctx, id); err != nil || st.ReceiptID != "" || st.State != "failed" {
			t.Errorf("closed session %s resumed: state %s, receipt %q, %v", id, st.State, st.ReceiptID, err)
		}
	}
	var out bytes.Buffer
	if _, err := b.Get(ctx, e.Root, &out, nil); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("get: %v (same bytes: %v)", err, bytes.Equal(out.Bytes(), data))
	}
}
