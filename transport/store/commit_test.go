package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// testChunk returns distinct chunk data for i.
func testChunk(i, size int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, size)
	binary.BigEndian.PutUint64(b, uint64(i))
	return b
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func (s *Store) queued() int {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return len(s.queue)
}

// TestGroupCommitStalledFlush stalls the flush of one chunk mid-window.
// With one committer, the chunks written meanwhile wait (none is
// acknowledged or visible early), then become durable together in one more
// batch. With two, they are committed by the second committer and
// acknowledged while the first flush is still stalled; the stalled chunk is
// acknowledged only once its flush returns.
func TestGroupCommitStalledFlush(t *testing.T) {
	tests := []struct {
		name       string
		committers int
	}{
		{"one committer", 1},
		{"two committers", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			s.maxCommit = tc.committers
			entered := make(chan struct{})
			release := make(chan struct{})
			var first atomic.Bool
			s.fsyncFile = func(f *os.File) error {
				if first.CompareAndSwap(false, true) { // only the first flush stalls
					close(entered)
					<-release
				}
				return f.Sync()
			}
			const n = 9
			errs := make([]error, n)
			acked := make(chan int, n)
			var wg sync.WaitGroup
			put := func(i int) {
				wg.Go(func() {
					d := testChunk(i, 5000)
					errs[i] = s.Put(chunk.Sum(d), [32]byte{1}, d)
					acked <- i
				})
			}
			put(0)
			<-entered // chunk 0's batch is stuck in its fsync
			for i := 1; i < n; i++ {
				put(i)
			}
			if tc.committers == 1 {
				waitFor(t, "the next batch to queue", func() bool { return s.queued() == n-1 })
				select {
				case i := <-acked:
					t.Fatalf("chunk %d acknowledged while the flush was stalled", i)
				default:
				}
				for i := 1; i < n; i++ {
					if ok, _ := s.Has(chunk.Sum(testChunk(i, 5000))); ok {
						t.Fatalf("chunk %d visible before its commit", i)
					}
				}
			} else {
				for range n - 1 {
					select {
					case i := <-acked:
						if i == 0 || errs[i] != nil {
							t.Fatalf("chunk %d acknowledged (err %v) while chunk 0's flush is stalled", i, errs[i])
						}
					case <-time.After(10 * time.Second):
						t.Fatal("chunks held up by another batch's stalled flush")
					}
				}
				if ok, _ := s.Has(chunk.Sum(testChunk(0, 5000))); ok {
					t.Fatal("stalled chunk visible before its commit")
				}
			}
			close(release)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("put %d: %v", i, err)
				}
			}
			s.cmu.Lock()
			batches := s.batches
			s.cmu.Unlock()
			if tc.committers == 1 && batches != 2 {
				t.Fatalf("%d batches, want 2 (the stalled one and one for the %d queued behind it)", batches, n-1)
			}
			s2, err := Open(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				d := testChunk(i, 5000)
				if got, err := s2.Get(chunk.Sum(d), nil); err != nil || !bytes.Equal(got, d) {
					t.Fatalf("chunk %d after reopen: %v", i, err)
				}
			}
			if s2.Used() != n*5000 {
				t.Fatalf("used %d after reopen, want %d", s2.Used(), n*5000)
			}
		})
	}
}

// TestGroupCommitFailures: a chunk whose flush fails is refused and
// removed, without failing the others of its batch; a directory flush
// failure refuses every chunk of that directory.
func TestGroupCommitFailures(t *testing.T) {
	d0, d1 := testChunk(0, 5000), testChunk(1, 5000)
	bad := chunk.Sum(d0)
	tests := []struct {
		name      string
		fileErr   func(f *os.File) error
		dirErr    func(dir string) error
		wantStore map[int]bool // chunk index -> stored
	}{
		{
			name: "file fsync fails",
			fileErr: func(f *os.File) error {
				if strings.HasPrefix(filepath.Base(f.Name()), bad.String()[:16]) {
					return errors.New("injected EIO")
				}
				return nil
			},
			wantStore: map[int]bool{0: false, 1: true},
		},
		{
			name: "directory fsync fails",
			dirErr: func(dir string) error {
				if filepath.Base(dir) == bad.String()[:2] {
					return errors.New("injected EIO")
				}
				return nil
			},
			wantStore: map[int]bool{0: false, 1: true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			if chunk.Sum(d1).String()[:2] == bad.String()[:2] {
				t.Skip("test chunks share a directory")
			}
			// Make sure both chunks' directories exist before failures
			// are injected (creating a directory flushes the store's).
			for _, d := range [][]byte{d0, d1} {
				if err := s.ensureDir(filepath.Dir(s.path(chunk.Sum(d)))); err != nil {
					t.Fatal(err)
				}
			}
			if tc.fileErr != nil {
				s.fsyncFile = func(f *os.File) error {
					if err := tc.fileErr(f); err != nil {
						return err
					}
					return f.Sync()
				}
			}
			if tc.dirErr != nil {
				s.fsyncDir = func(d string) error {
					if err := tc.dirErr(d); err != nil {
						return err
					}
					return syncDir(d)
				}
			}
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i, d := range [][]byte{d0, d1} {
				wg.Go(func() { errs[i] = s.Put(chunk.Sum(d), [32]byte{1}, d) })
			}
			wg.Wait()
			var used int64
			for i, d := range [][]byte{d0, d1} {
				has, _ := s.Has(chunk.Sum(d))
				if has != tc.wantStore[i] || (errs[i] == nil) != tc.wantStore[i] {
					t.Fatalf("chunk %d: put err %v, stored %v, want stored %v", i, errs[i], has, tc.wantStore[i])
				}
				if has {
					used += int64(len(d))
				}
			}
			if s.Used() != used {
				t.Fatalf("used %d, want %d", s.Used(), used)
			}
			tmps, _ := os.ReadDir(filepath.Join(dir, tmpDir))
			if len(tmps) != 0 {
				t.Fatalf("%d temporary files left", len(tmps))
			}
			// The refused chunk can be put again once the disk recovers.
			s.fsyncFile, s.fsyncDir = (*os.File).Sync, syncDir
			if err := s.Put(bad, [32]byte{1}, d0); err != nil {
				t.Fatalf("retry: %v", err)
			}
		})
	}
}

// crashChildEnv names the store directory of the crash test's child.
const crashChildEnv = "SOVMESH_STORE_CRASH_CHILD"

// TestCrashMidBatch kills a process that is writing chunks from several
// goroutines at a random point, many batches in, then reopens its store:
// every acknowledged chunk is there and intact, nothing half-written is
// kept (every chunk file present hashes to its name), no temporary file
// survives the reopen, and the usage matches the chunks present.
func TestCrashMidBatch(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	for round := range 3 {
		t.Run(fmt.Sprintf("round %d", round), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashMidBatch$")
			cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := map[chunk.CID]bool{}
			sc := bufio.NewScanner(out)
			want := 40 + 25*round // kill at a different point each round
			for len(acked) < want && sc.Scan() {
				c, err := chunk.ParseCID(strings.TrimPrefix(sc.Text(), "acked "))
				if err != nil {
					continue // test framework output
				}
				acked[c] = true
			}
			if len(acked) < want {
				t.Fatalf("child stopped after %d acknowledgements: %v", len(acked), sc.Err())
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()

			s, err := Open(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			for c := range acked {
				got, err := s.Get(c, nil)
				if err != nil {
					t.Fatalf("acknowledged chunk %s lost: %v", c, err)
				}
				if chunk.Sum(got) != c {
					t.Fatalf("acknowledged chunk %s corrupt", c)
				}
			}
			var present int
			var used int64
			err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				if filepath.Base(filepath.Dir(p)) == tmpDir {
					return fmt.Errorf("temporary file %s kept after reopen", p)
				}
				c, err := chunk.ParseCID(strings.TrimSuffix(d.Name(), chunkExt))
				if err != nil {
					return fmt.Errorf("unexpected file %s", p)
				}
				got, err := s.Get(c, nil)
				if err != nil || sha256.Sum256(got) != c {
					return fmt.Errorf("chunk file %s is not whole: %v", p, err)
				}
				present++
				used += int64(len(got))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if s.Used() != used {
				t.Fatalf("used %d, chunks present hold %d", s.Used(), used)
			}
			t.Logf("killed after %d acknowledgements; %d chunks present", len(acked), present)
		})
	}
}

// crashChild writes chunks with 8 writers and prints each acknowledgement,
// until it is killed (or a bound is reached).
func crashChild(dir string) {
	s, err := Open(dir, 0)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < 8*500; i += 8 {
				d := testChunk(i, 64<<10)
				c := chunk.Sum(d)
				if err := s.Put(c, [32]byte{1}, d); err != nil {
					fmt.Println("put:", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Printf("acked %s\n", c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(0)
}
