// Package manifest signs and verifies folders with a nips.Manifest (kind
// 8467): every file's size and SHA-256, in MANIFEST.json, signed with a
// Nostr key. Relay event bundles and hand-carried folders use it.
package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/bip340"
	"github.com/sovmesh/sovmesh/nips"
)

// Errors of Verify, wrapped with the file they concern.
var (
	ErrNoManifest   = errors.New("no manifest")
	ErrBadSignature = errors.New("manifest signature does not verify")
	ErrMismatch     = errors.New("file does not match the manifest")
	ErrMissing      = errors.New("file listed in the manifest is missing")
	ErrUnlisted     = errors.New("file not listed in the manifest")
)

// maxManifestBytes bounds MANIFEST.json.
const maxManifestBytes = 64 << 20

// Sign lists every regular file under dir (but MANIFEST.json), hashes it,
// and writes MANIFEST.json signed by sign. It refuses a folder holding
// anything but regular files and directories.
func Sign(dir, label string, sign func(*nostr.Event) error, createdAt nostr.Timestamp) (*nostr.Event, error) {
	files, err := list(dir)
	if err != nil {
		return nil, err
	}
	m := nips.Manifest{Label: label}
	for _, p := range files {
		size, sum, err := hashFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, nips.ManifestFile{Path: p, Size: size, SHA256: sum})
	}
	evt := m.ToEvent(createdAt)
	if err := sign(&evt); err != nil {
		return nil, fmt.Errorf("sign manifest: %w", err)
	}
	b, err := json.Marshal(evt)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, nips.ManifestName), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("write manifest: %w", err)
	}
	return &evt, nil
}

// Verify checks dir against its MANIFEST.json: the signature, then every
// listed file's size and hash, and that no other file is there. It returns
// the manifest; whether its signer is trusted is the caller's decision.
func Verify(dir string) (nips.Manifest, error) {
	f, err := os.Open(filepath.Join(dir, nips.ManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nips.Manifest{}, fmt.Errorf("%w: %s has no %s", ErrNoManifest, dir, nips.ManifestName)
	}
	if err != nil {
		return nips.Manifest{}, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	f.Close()
	if err != nil {
		return nips.Manifest{}, err
	}
	if len(b) > maxManifestBytes {
		return nips.Manifest{}, fmt.Errorf("%w: %s is over %d MiB", ErrNoManifest, nips.ManifestName, maxManifestBytes>>20)
	}
	var evt nostr.Event
	if err := json.Unmarshal(b, &evt); err != nil {
		return nips.Manifest{}, fmt.Errorf("%w: %s is not an event: %v", ErrNoManifest, nips.ManifestName, err)
	}
	if ok, err := bip340.CheckEvent(&evt); err != nil || !ok {
		return nips.Manifest{}, ErrBadSignature
	}
	m, err := nips.ParseManifest(&evt)
	if err != nil {
		return nips.Manifest{}, fmt.Errorf("%w: %w", ErrNoManifest, err)
	}
	present, err := list(dir)
	if err != nil {
		return nips.Manifest{}, err
	}
	listed := make(map[string]bool, len(m.Files))
	for _, mf := range m.Files {
		listed[mf.Path] = true
	}
	for _, p := range present {
		if !listed[p] {
			return nips.Manifest{}, fmt.Errorf("%w: %s", ErrUnlisted, p)
		}
	}
	for _, mf := range m.Files {
		size, sum, err := hashFile(filepath.Join(dir, filepath.FromSlash(mf.Path)))
		if errors.Is(err, fs.ErrNotExist) {
			return nips.Manifest{}, fmt.Errorf("%w: %s", ErrMissing, mf.Path)
		}
		if err != nil {
			return nips.Manifest{}, err
		}
		if size != mf.Size || sum != mf.SHA256 {
			return nips.Manifest{}, fmt.Errorf("%w: %s has %d bytes, SHA-256 %s; the manifest says %d bytes, %s", ErrMismatch, mf.Path, size, sum, mf.Size, mf.SHA256)
		}
	}
	return m, nil
}

// list returns the slash-separated relative paths of the regular files
// under dir, sorted, without the manifest.
func list(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: not a regular file (links and devices are not carried)", rel)
		case rel == nips.ManifestName:
			return nil
		case !nips.SafeManifestPath(rel):
			return fmt.Errorf("%s: a name a manifest cannot list", rel)
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	slices.Sort(out)
	return out, nil
}

func hashFile(p string) (uint64, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return 0, "", err
	} else if !fi.Mode().IsRegular() {
		return 0, "", fmt.Errorf("%s: %w: not a regular file", p, ErrMismatch)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", p, err)
	}
	return uint64(n), hex.EncodeToString(h.Sum(nil)), nil
}
