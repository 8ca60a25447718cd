package blossom

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrNotFound: no such blob (or not the caller's).
var ErrNotFound = errors.New("blossom: blob not found")

// Quota is the disk quota the blobs share (the provider's chunk store:
// transport/store.Store).
type Quota interface {
	Reserve(n int64) error
	Adopt(n int64)
	Release(n int64)
}

// meta is what a blob's sidecar file holds.
type meta struct {
	Size     int64            `json:"size"`
	Type     string           `json:"type"`
	Uploaded int64            `json:"uploaded"`
	Owners   map[string]int64 `json:"owners"` // pubkey -> paid until (unix)
}

// expires is when the last owner's paid period ends.
func (m *meta) expires() int64 {
	var e int64
	for _, t := range m.Owners {
		e = max(e, t)
	}
	return e
}

// blobs is a directory of blobs named by their SHA-256 with a sidecar
// (<sha256>.json) each, indexed in memory. Safe for concurrent use.
type blobs struct {
	dir   string
	quota Quota

	mu    sync.Mutex
	index map[string]*meta
}

const tmpDir = "tmp"

// openBlobs loads dir, removing leftovers of interrupted uploads, and
// counts the blobs in the quota.
func openBlobs(dir string, q Quota) (*blobs, error) {
	if err := os.MkdirAll(filepath.Join(dir, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("blossom: open: %w", err)
	}
	tmps, _ := os.ReadDir(filepath.Join(dir, tmpDir))
	for _, e := range tmps {
		_ = os.Remove(filepath.Join(dir, tmpDir, e.Name()))
	}
	b := &blobs{dir: dir, quota: q, index: map[string]*meta{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("blossom: open: %w", err)
	}
	for _, e := range ents {
		sha, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !isSHA256(sha) {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		var m meta
		if err == nil {
			err = json.Unmarshal(raw, &m)
		}
		info, serr := os.Stat(b.path(sha))
		if err != nil || serr != nil || info.Size() != m.Size || len(m.Owners) == 0 {
			// A blob without its data or owners is a crash's leftover.
			_ = os.Remove(b.path(sha))
			_ = os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		b.index[sha] = &m
		q.Adopt(m.Size)
	}
	return b, nil
}

func (b *blobs) path(sha string) string { return filepath.Join(b.dir, sha) }

// tempFile creates a file for an upload in progress.
func (b *blobs) tempFile() (*os.File, error) {
	return os.CreateTemp(filepath.Join(b.dir, tmpDir), "up-*")
}

// writeMeta replaces sha's sidecar atomically; callers hold mu.
func (b *blobs) writeMeta(sha string, m *meta) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	f, err := b.tempFile()
	if err != nil {
		return err
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), b.path(sha)+".json")
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	return syncDir(b.dir)
}

// syncDir makes the directory's entries (a rename) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// add makes the received file tmp (size bytes, already synced, its
// reservation held by the caller) the blob sha owned by owner until until,
// or adds owner to the blob already there. It reports whether the
// reservation was used (false: the blob existed; release it).
func (b *blobs) add(sha, tmp string, size int64, typ, owner string, until, now int64) (meta, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m := b.index[sha]; m != nil {
		_ = os.Remove(tmp)
		next := *m
		next.Owners = map[string]int64{}
		for k, v := range m.Owners {
			next.Owners[k] = v
		}
		next.Owners[owner] = max(next.Owners[owner], until)
		if err := b.writeMeta(sha, &next); err != nil {
			return meta{}, false, fmt.Errorf("blossom: store: %w", err)
		}
		b.index[sha] = &next
		return next, false, nil
	}
	m := &meta{Size: size, Type: typ, Uploaded: now, Owners: map[string]int64{owner: until}}
	if err := os.Rename(tmp, b.path(sha)); err != nil {
		_ = os.Remove(tmp)
		return meta{}, false, fmt.Errorf("blossom: store: %w", err)
	}
	if err := b.writeMeta(sha, m); err != nil {
		_ = os.Remove(b.path(sha))
		return meta{}, false, fmt.Errorf("blossom: store: %w", err)
	}
	b.index[sha] = m
	return *m, true, nil
}

// get returns sha's metadata.
func (b *blobs) get(sha string) (meta, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.index[sha]
	if m == nil {
		return meta{}, false
	}
	return *m, true
}

// open returns sha's data file and metadata.
func (b *blobs) open(sha string) (*os.File, meta, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.index[sha]
	if m == nil {
		return nil, meta{}, ErrNotFound
	}
	f, err := os.Open(b.path(sha))
	if err != nil {
		return nil, meta{}, fmt.Errorf("blossom: open %s: %w", sha, err)
	}
	return f, *m, nil
}

// remove drops owner from sha; the blob goes when no owner is left.
func (b *blobs) remove(sha, owner string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.index[sha]
	if m == nil || m.Owners[owner] == 0 {
		return ErrNotFound
	}
	if len(m.Owners) == 1 {
		return b.drop(sha, m)
	}
	next := *m
	next.Owners = map[string]int64{}
	for k, v := range m.Owners {
		if k != owner {
			next.Owners[k] = v
		}
	}
	if err := b.writeMeta(sha, &next); err != nil {
		return fmt.Errorf("blossom: delete: %w", err)
	}
	b.index[sha] = &next
	return nil
}

// drop deletes sha's files; callers hold mu. An open reader keeps reading
// the unlinked file.
func (b *blobs) drop(sha string, m *meta) error {
	if err := os.Remove(b.path(sha) + ".json"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("blossom: delete: %w", err)
	}
	_ = os.Remove(b.path(sha))
	delete(b.index, sha)
	b.quota.Release(m.Size)
	return nil
}

// listed is one blob in a listing.
type listed struct {
	sha string
	m   meta
}

// list returns owner's blobs uploaded within [since, until] (0: open),
// newest first, at most limit.
func (b *blobs) list(owner string, since, until int64, limit int) []listed {
	b.mu.Lock()
	var out []listed
	for sha, m := range b.index {
		if m.Owners[owner] == 0 || m.Uploaded < since || (until > 0 && m.Uploaded > until) {
			continue
		}
		out = append(out, listed{sha, *m})
	}
	b.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].m.Uploaded != out[j].m.Uploaded {
			return out[i].m.Uploaded > out[j].m.Uploaded
		}
		return out[i].sha < out[j].sha
	})
	return out[:min(len(out), limit)]
}

// sweep deletes the blobs whose last owner's paid period ended before
// now. It returns how many.
func (b *blobs) sweep(now time.Time) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	n := 0
	for _, sha := range slices.Sorted(maps.Keys(b.index)) {
		m := b.index[sha]
		if m.expires() >= now.Unix() {
			continue
		}
		if err := b.drop(sha, m); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
