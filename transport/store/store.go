// Package store is a provider's on-disk chunk store. It keeps ciphertext
// chunks by CID only, under a byte quota, and never keeps a half-written
// chunk: every chunk is written to a file with no name yet (O_TMPFILE, in
// its own shard directory, on Linux; a named temporary file elsewhere),
// fsynced, and linked (or renamed) into place, and Put returns only once
// the chunk is durable.
//
// Durable writes are group-committed: chunks written concurrently (by
// several streams or buyers) are made durable together, with their files
// fsynced in parallel, then linked into place, then one fsync per directory touched,
// so the cost of a disk flush (milliseconds) is shared by a batch instead of
// paid per chunk. A crash loses at most chunks whose Put had not returned.
// It knows nothing about the network.
package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sovmesh/sovmesh/transport/chunk"
)

// Errors returned by Store.
var (
	ErrNotFound      = errors.New("store: chunk not found")
	ErrCIDMismatch   = errors.New("store: data does not match CID")
	ErrQuotaExceeded = errors.New("store: quota exceeded")
	ErrNotOwner      = errors.New("store: chunk belongs to another owner")
	ErrTooLarge      = errors.New("store: chunk too large")
	ErrCorrupt       = errors.New("store: stored chunk corrupt")
)

// MaxChunk is the largest chunk the store accepts.
const MaxChunk = chunk.MaxSize + chunk.Overhead

const (
	fileMagic  = "SMC1"
	headerSize = len(fileMagic) + 32
	tmpDir     = "tmp"
	chunkExt   = ".chunk"
)

// commitBatchMax bounds how many chunks one group commit makes durable.
const commitBatchMax = 64

// defaultCommitters bounds the group commits in flight at once. Two keep
// the disk busy while a batch waits for its flush (the filesystem merges
// concurrent flushes into one journal commit), and a stalled flush does not
// hold up every other writer; chunks written while both are busy form the
// next batch.
const defaultCommitters = 2

// Store is a directory of chunks. It is safe for concurrent use.
type Store struct {
	dir   string
	quota int64

	mu      sync.Mutex
	used    int64
	pending map[chunk.CID]bool

	dirs sync.Map // shard directories known to exist durably

	// direct is set while chunk files are written with O_DIRECT (Linux,
	// not tmpfs); cleared for good the first time the filesystem refuses
	// it. directWrites and directReads count the chunks so written and
	// read (for tests).
	direct       atomic.Bool
	directWrites atomic.Int64
	directReads  atomic.Int64

	// tmpfile is set while chunk files are created unnamed (O_TMPFILE)
	// in their shard directory and linked into place; cleared for good
	// the first time the filesystem refuses it, after which they are
	// named temporary files in tmpDir, renamed into place.
	tmpfile atomic.Bool

	cmu        sync.Mutex
	queue      []*pendingWrite // written, waiting for a group commit
	committers int             // commit goroutines running
	maxCommit  int             // bound on committers
	batches    int             // group commits done (for tests)

	// fsyncFile and fsyncDir make data and directory entries durable;
	// tests replace them to inject failures.
	fsyncFile func(*os.File) error
	fsyncDir  func(string) error
}

// pendingWrite is a chunk written to a temporary file, not yet durable.
type pendingWrite struct {
	f     *os.File
	final string
	tmp   string // the temporary file's name; "" if it has none (O_TMPFILE)
	done  chan error
}

// Open opens (creating if needed) the store in dir with a quota in bytes of
// chunk data (0 means unlimited). Leftover temporary files from a crash are
// removed, and the usage is recomputed from the chunks present.
func Open(dir string, quota int64) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	tmps, err := os.ReadDir(filepath.Join(dir, tmpDir))
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	for _, e := range tmps {
		_ = os.Remove(filepath.Join(dir, tmpDir, e.Name()))
	}
	s := &Store{dir: dir, quota: quota, pending: map[chunk.CID]bool{},
		maxCommit: defaultCommitters, fsyncFile: (*os.File).Sync, fsyncDir: syncDir}
	s.direct.Store(directSupported(filepath.Join(dir, tmpDir)))
	s.tmpfile.Store(tmpfileSupported(filepath.Join(dir, tmpDir)))
	if err := s.makeShardDirs(); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, chunkExt) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		s.used += info.Size() - int64(headerSize)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	return s, nil
}

// Used returns the bytes of chunk data stored.
func (s *Store) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// Quota returns the configured quota (0 = unlimited).
func (s *Store) Quota() int64 { return s.quota }

// Reserve counts n bytes held beside the chunks (a provider's Blossom
// blobs) in the same quota, or fails with ErrQuotaExceeded if they do not
// fit. Release gives them back.
func (s *Store) Reserve(n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quota > 0 && s.used+n > s.quota {
		return fmt.Errorf("%w: %d of %d bytes used, %d more asked", ErrQuotaExceeded, s.used, s.quota, n)
	}
	s.used += n
	return nil
}

// Adopt counts n bytes already held beside the chunks (found on disk at
// start), over the quota if need be.
func (s *Store) Adopt(n int64) {
	s.mu.Lock()
	s.used += n
	s.mu.Unlock()
}

// Release gives back n bytes that Reserve or Adopt counted.
func (s *Store) Release(n int64) {
	s.mu.Lock()
	s.used = max(s.used-n, 0)
	s.mu.Unlock()
}

func (s *Store) path(c chunk.CID) string {
	h := c.String()
	return filepath.Join(s.dir, h[:2], h+chunkExt)
}

// Put stores data under c for owner. The data must hash to c. Putting a
// chunk that the same owner already stored succeeds without rewriting it.
func (s *Store) Put(c chunk.CID, owner [32]byte, data []byte) error {
	if len(data) > MaxChunk {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	if chunk.Sum(data) != c {
		return fmt.Errorf("%w: %s", ErrCIDMismatch, c)
	}
	size := int64(len(data))
	s.mu.Lock()
	if s.pending[c] {
		s.mu.Unlock()
		return fmt.Errorf("store: put %s: concurrent put in progress", c)
	}
	if o, err := s.owner(c); err == nil {
		s.mu.Unlock()
		if o != owner {
			return fmt.Errorf("%w: %s", ErrNotOwner, c)
		}
		return nil
	}
	if s.quota > 0 && s.used+size > s.quota {
		s.mu.Unlock()
		return fmt.Errorf("%w: %d of %d bytes used, chunk of %d", ErrQuotaExceeded, s.used, s.quota, size)
	}
	s.used += size
	s.pending[c] = true
	s.mu.Unlock()

	err := s.write(c, owner, data)
	s.mu.Lock()
	delete(s.pending, c)
	if err != nil {
		s.used -= size
	}
	s.mu.Unlock()
	return err
}

// write stores data under c durably: a temporary file, then a group commit.
func (s *Store) write(c chunk.CID, owner [32]byte, data []byte) error {
	w, err := s.writeTemp(c, owner, data)
	if err != nil {
		return err
	}
	return s.commit(w)
}

// writeTemp writes the chunk file, unnamed in its shard directory or
// named in the temporary directory, and starts its writeback; the file is
// not durable yet.
func (s *Store) writeTemp(c chunk.CID, owner [32]byte, data []byte) (*pendingWrite, error) {
	final := s.path(c)
	if err := s.ensureDir(filepath.Dir(final)); err != nil {
		return nil, err
	}
	f, tmp, err := s.createTemp(c, filepath.Dir(final))
	if err != nil {
		return nil, fmt.Errorf("store: put: %w", err)
	}
	var hdr [headerSize]byte
	copy(hdr[:], fileMagic)
	copy(hdr[len(fileMagic):], owner[:])
	if err := s.writeChunk(f, hdr[:], data); err != nil {
		_ = f.Close()
		if tmp != "" {
			_ = os.Remove(tmp)
		}
		return nil, fmt.Errorf("store: put: %w", err)
	}
	startWriteback(f)
	return &pendingWrite{f: f, final: final, tmp: tmp, done: make(chan error, 1)}, nil
}

// createTemp creates the file that chunk c is written to before its
// commit: with O_TMPFILE in dir, the chunk's shard directory (no name, so
// nothing to clean up after a crash, and no entry to add to and remove
// from a directory that every writer shares), else a named temporary file
// in tmpDir, whose name it returns.
func (s *Store) createTemp(c chunk.CID, dir string) (f *os.File, tmp string, err error) {
	prefix := c.String()[:16]
	if s.tmpfile.Load() {
		f, err := openTmpfile(dir, prefix+"-unnamed")
		if err == nil {
			return f, "", nil
		}
		if !errTmpfileRefused(err) {
			return nil, "", err
		}
		s.tmpfile.Store(false)
	}
	f, err = os.CreateTemp(filepath.Join(s.dir, tmpDir), prefix+"-*")
	if err != nil {
		return nil, "", err
	}
	return f, f.Name(), nil
}

// place gives w's file its final name: a link of the unnamed file, or a
// rename of the named one. An unnamed file whose name is taken (a damaged
// chunk file being replaced) is linked into tmpDir and renamed over it.
// The file is closed either way; the name is durable once its directory
// is fsynced.
func (s *Store) place(w *pendingWrite) error {
	if w.tmp != "" {
		if err := w.f.Close(); err != nil {
			_ = os.Remove(w.tmp)
			return err
		}
		if err := os.Rename(w.tmp, w.final); err != nil {
			_ = os.Remove(w.tmp)
			return err
		}
		return nil
	}
	defer w.f.Close()
	err := linkTmpfile(w.f, w.final)
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	tmp := filepath.Join(s.dir, tmpDir, filepath.Base(w.final))
	_ = os.Remove(tmp)
	if err := linkTmpfile(w.f, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, w.final); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// writeChunk writes hdr then data to the new file f: with O_DIRECT where
// the filesystem takes it (the data goes to the disk without a copy into
// the page cache and its writeback, which cost about as much CPU as the
// rest of a put), else through the page cache. Either way the file is
// durable only once the group commit has fsynced it.
func (s *Store) writeChunk(f *os.File, hdr, data []byte) error {
	if s.direct.Load() {
		ok, err := writeDirect(f, hdr, data)
		if ok {
			s.directWrites.Add(1)
			return nil
		}
		if errors.Is(err, errDirectRefused) {
			s.direct.Store(false) // written again from offset 0 below
		} else if err != nil {
			return err
		}
	}
	return writeFile(f, hdr, data)
}

// shardDirs is how many shard directories a store has: a chunk's is named
// by the first two hex digits of its CID.
const shardDirs = 256

// makeShardDirs creates every shard directory that is missing and makes
// their entries durable with one fsync of the store's directory. Created
// on each one's first put instead, every new directory cost an fsync of
// the store's directory on the data path: 256 of them in a new store's
// first puts, each holding a thread and its P while it waited (0.3 s of
// the 0.8 s a 256 MiB put took in an execution trace, issue 13 point 7).
func (s *Store) makeShardDirs() error {
	for i := range shardDirs {
		d := filepath.Join(s.dir, fmt.Sprintf("%02x", i))
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	if err := s.fsyncDir(s.dir); err != nil {
		return err
	}
	for i := range shardDirs {
		s.dirs.Store(filepath.Join(s.dir, fmt.Sprintf("%02x", i)), true)
	}
	return nil
}

// ensureDir creates a shard directory and makes its entry durable, once
// (Open made them all: see makeShardDirs).
func (s *Store) ensureDir(dir string) error {
	if _, ok := s.dirs.Load(dir); ok {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	if err := s.fsyncDir(s.dir); err != nil {
		return err
	}
	s.dirs.Store(dir, true)
	return nil
}

// commit queues w for the next group commit and waits for its outcome.
// Up to defaultCommitters commit goroutines run while there is work, each
// taking all that is queued as its batch, and exit when the queue is
// empty; chunks queued while the committers are flushing form the next
// batches.
func (s *Store) commit(w *pendingWrite) error {
	s.cmu.Lock()
	s.queue = append(s.queue, w)
	if s.committers < s.maxCommit {
		s.committers++
		go s.commitLoop()
	}
	s.cmu.Unlock()
	return <-w.done
}

func (s *Store) commitLoop() {
	for {
		s.cmu.Lock()
		n := min(len(s.queue), commitBatchMax)
		if n == 0 {
			s.committers--
			if s.committers == 0 {
				s.queue = nil
			}
			s.cmu.Unlock()
			return
		}
		batch := s.queue[:n:n]
		s.queue = s.queue[n:]
		s.batches++
		s.cmu.Unlock()
		s.commitBatch(batch)
	}
}

// commitBatch makes a batch durable: fsync every file (in parallel, so the
// filesystem can merge the flushes), link each into place, fsync each
// directory touched once, then acknowledge. A chunk whose step fails is
// removed and gets the error; the others are unaffected.
func (s *Store) commitBatch(batch []*pendingWrite) {
	errs := make([]error, len(batch))
	var wg sync.WaitGroup
	for i, w := range batch {
		wg.Go(func() {
			if err := s.fsyncFile(w.f); err != nil {
				errs[i] = fmt.Errorf("store: put: sync: %w", err)
			}
		})
	}
	wg.Wait()
	dirs := map[string][]int{}
	for i, w := range batch {
		if errs[i] != nil {
			_ = w.f.Close()
			if w.tmp != "" {
				_ = os.Remove(w.tmp)
			}
			continue
		}
		if err := s.place(w); err != nil {
			errs[i] = fmt.Errorf("store: put: %w", err)
			continue
		}
		d := filepath.Dir(w.final)
		dirs[d] = append(dirs[d], i)
	}
	var dmu sync.Mutex
	for d, idx := range dirs {
		wg.Go(func() {
			if err := s.fsyncDir(d); err != nil {
				dmu.Lock()
				defer dmu.Unlock()
				for _, i := range idx {
					errs[i] = err
					_ = os.Remove(batch[i].final)
				}
			}
		})
	}
	wg.Wait()
	for i, w := range batch {
		w.done <- errs[i]
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: sync dir: %w", err)
	}
	return nil
}

// owner reads the owner recorded in c's file header.
func (s *Store) owner(c chunk.CID) ([32]byte, error) {
	var o [32]byte
	f, err := os.Open(s.path(c))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return o, fmt.Errorf("%w: %s", ErrNotFound, c)
		}
		return o, fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	var hdr [headerSize]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:4]) != fileMagic {
		return o, fmt.Errorf("%w: %s header", ErrCorrupt, c)
	}
	copy(o[:], hdr[4:])
	return o, nil
}

// Owner returns the Nostr public key of the owner of chunk c.
func (s *Store) Owner(c chunk.CID) ([32]byte, error) { return s.owner(c) }

// Has reports whether chunk c is stored.
func (s *Store) Has(c chunk.CID) (bool, error) {
	_, err := os.Stat(s.path(c))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("store: has: %w", err)
}

// openChunk opens chunk c's file for reading and returns it with the size
// of the chunk it holds (the file's, less its header), checked against
// MaxChunk.
func (s *Store) openChunk(c chunk.CID) (*os.File, int, error) {
	f, err := os.Open(s.path(c))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, c)
		}
		return nil, 0, fmt.Errorf("store: get: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("store: get: %w", err)
	}
	size := info.Size() - int64(headerSize)
	if size < 0 || size > MaxChunk {
		_ = f.Close()
		return nil, 0, fmt.Errorf("%w: %s size", ErrCorrupt, c)
	}
	return f, int(size), nil
}

// readHeader reads chunk c's file header from f and checks its magic.
func readHeader(f *os.File, c chunk.CID) error {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:4]) != fileMagic {
		return fmt.Errorf("%w: %s header", ErrCorrupt, c)
	}
	return nil
}

// Get appends chunk c's data to buf and returns it.
func (s *Store) Get(c chunk.CID, buf []byte) ([]byte, error) {
	f, size, err := s.openChunk(c)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if s.direct.Load() {
		ok, err := readDirect(f, headerSize+size, func(file []byte) error {
			if string(file[:4]) != fileMagic {
				return fmt.Errorf("%w: %s header", ErrCorrupt, c)
			}
			buf = append(buf, file[headerSize:]...)
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				err = fmt.Errorf("%w: %s: %v", ErrCorrupt, c, err)
			}
			return nil, err
		}
		if ok {
			s.directReads.Add(1)
			return buf, nil
		}
	}
	if err := readHeader(f, c); err != nil {
		return nil, err
	}
	start := len(buf)
	buf = slices.Grow(buf, size)[:start+size]
	if _, err := io.ReadFull(f, buf[start:]); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, c, err)
	}
	return buf, nil
}

// Prove returns SHA-256(chunk || challenge), showing that chunk c is held.
func (s *Store) Prove(c chunk.CID, challenge [32]byte) ([32]byte, error) {
	var out [32]byte
	f, err := os.Open(s.path(c))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return out, fmt.Errorf("%w: %s", ErrNotFound, c)
		}
		return out, fmt.Errorf("store: prove: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(int64(headerSize), io.SeekStart); err != nil {
		return out, fmt.Errorf("store: prove: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return out, fmt.Errorf("store: prove: %w", err)
	}
	h.Write(challenge[:])
	copy(out[:], h.Sum(nil))
	return out, nil
}

// Delete removes chunk c if owner owns it. The caller checks the owner's
// authorization (a signature) before calling.
func (s *Store) Delete(c chunk.CID, owner [32]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.owner(c)
	if err != nil {
		return err
	}
	if o != owner {
		return fmt.Errorf("%w: %s", ErrNotOwner, c)
	}
	p := s.path(c)
	info, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	s.used -= info.Size() - int64(headerSize)
	return syncDir(filepath.Dir(p))
}

// Proofs computes the storage proofs of data for several challenges,
// hashing data once.
func Proofs(data []byte, challenges [][32]byte) ([][32]byte, error) {
	h := sha256.New()
	h.Write(data)
	out := make([][32]byte, len(challenges))
	for i, ch := range challenges {
		c, err := h.(hash.Cloner).Clone()
		if err != nil {
			return nil, fmt.Errorf("store: proofs: %w", err)
		}
		c.Write(ch[:])
		out[i] = [32]byte(c.Sum(nil))
	}
	return out, nil
}

// Each calls fn with the CID of every stored chunk, in no set order; an
// error from fn ends the walk and is returned.
func (s *Store) Each(fn func(chunk.CID) error) error {
	return filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != s.dir && filepath.Base(p) == tmpDir {
				return filepath.SkipDir
			}
			return nil
		}
		name, ok := strings.CutSuffix(d.Name(), chunkExt)
		if !ok {
			return nil
		}
		c, err := chunk.ParseCID(name)
		if err != nil {
			return nil // not a chunk of ours
		}
		return fn(c)
	})
}
