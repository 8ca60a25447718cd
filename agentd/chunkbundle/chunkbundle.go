// Package chunkbundle carries a stored file's ciphertext chunks between
// nodes with no network between them (sneaker-net): a folder holding
// bundle.json (the file's root CID and the chunks' owner), chunks/<cid>
// (each chunk's ciphertext, named by its CID) and MANIFEST.json, the
// folder manifest (internal/manifest, nips/manifest.md) labelled Label and
// signed by the exporting node. Chunks stay sealed under the owner's file
// key: whoever carries or imports a bundle learns nothing of the file.
package chunkbundle

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/internal/manifest"
	"github.com/sovmesh/sovmesh/transport/chunk"
	"github.com/sovmesh/sovmesh/transport/store"
)

// Names in a bundle folder.
const (
	Label    = "sovmesh-chunks"
	InfoName = "bundle.json"
	ChunkDir = "chunks"
)

// maxInfoBytes bounds bundle.json.
const maxInfoBytes = 4 << 10

// Errors of Import, wrapped with what they concern. Every one of them
// means nothing was stored.
var (
	ErrRefused   = errors.New("bundle refused, nothing imported")
	ErrUntrusted = errors.New("bundle signed by a key not trusted here")
	ErrNotBundle = errors.New("not a chunk bundle")
	ErrNotHere   = errors.New("chunk not in this node's store")
)

// Info is bundle.json: which file the bundle carries and whose chunks
// they are (the Nostr pubkey that stored them, who alone may delete them).
type Info struct {
	Root  string `json:"root"`
	Owner string `json:"owner"`
}

// ParseInfo reads bundle.json strictly: both fields, 64 lowercase hex
// digits each, nothing else.
func ParseInfo(b []byte) (Info, error) {
	var in Info
	if len(b) > maxInfoBytes {
		return in, fmt.Errorf("%w: %s is over %d bytes", ErrNotBundle, InfoName, maxInfoBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return Info{}, fmt.Errorf("%w: %s: %v", ErrNotBundle, InfoName, err)
	}
	if dec.More() {
		return Info{}, fmt.Errorf("%w: %s: data after the object", ErrNotBundle, InfoName)
	}
	if !hex32(in.Root) || !hex32(in.Owner) {
		return Info{}, fmt.Errorf("%w: %s: root and owner must be 64 lowercase hex digits", ErrNotBundle, InfoName)
	}
	return in, nil
}

func hex32(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32 && strings.ToLower(s) == s
}

// Summary says what Export wrote or Import stored.
type Summary struct {
	Info    Info
	Signer  string // the manifest's signer (Import)
	Chunks  int    // chunks in the bundle
	Bytes   int64  // their bytes
	Stored  int    // Import: chunks stored now
	Present int    // Import: chunks the store already held
}

// Export writes the bundle of root from st into the new folder out,
// signed by sign. A provider cannot tell which chunks belong to which
// file (the file's manifest is sealed under a key it never sees), so the
// bundle holds the root chunk and every chunk its owner stored in st.
func Export(st *store.Store, root chunk.CID, out string, sign func(*nostr.Event) error) (sum Summary, err error) {
	owner, err := st.Owner(root)
	if errors.Is(err, store.ErrNotFound) {
		return Summary{}, fmt.Errorf("%w: %s", ErrNotHere, root)
	}
	if err != nil {
		return Summary{}, err
	}
	sum = Summary{Info: Info{Root: root.String(), Owner: hex.EncodeToString(owner[:])}}
	if err := os.Mkdir(out, 0o755); err != nil {
		return Summary{}, fmt.Errorf("%w (the bundle folder must be new)", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(out) // ours, half written
		}
	}()
	if err := os.Mkdir(filepath.Join(out, ChunkDir), 0o755); err != nil {
		return Summary{}, err
	}
	var buf []byte
	err = st.Each(func(c chunk.CID) error {
		if o, err := st.Owner(c); err != nil || o != owner {
			return err
		}
		data, err := st.Get(c, buf[:0])
		if err != nil {
			return err
		}
		buf = data
		if err := writeSynced(filepath.Join(out, ChunkDir, c.String()), data); err != nil {
			return err
		}
		sum.Chunks++
		sum.Bytes += int64(len(data))
		return nil
	})
	if err != nil {
		return sum, fmt.Errorf("export: %w", err)
	}
	info, _ := json.Marshal(sum.Info)
	if err := writeSynced(filepath.Join(out, InfoName), append(info, '\n')); err != nil {
		return sum, err
	}
	if _, err := manifest.Sign(out, Label, sign, nostr.Now()); err != nil {
		return sum, err
	}
	return sum, nil
}

func writeSynced(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Check verifies the bundle in dir without storing anything: the
// manifest's signature (by a key trusted accepts), every file's size and
// SHA-256 and that no other file is there, bundle.json, and that every
// chunk is named by its CID (its SHA-256) and the root chunk is there.
// It returns the summary and the chunks' CIDs.
func Check(dir string, trusted func(pubkey string) bool) (Summary, []chunk.CID, error) {
	m, err := manifest.Verify(dir)
	if err != nil {
		return Summary{}, nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if m.Label != Label {
		return Summary{}, nil, fmt.Errorf("%w: %w: label %q, want %q", ErrRefused, ErrNotBundle, m.Label, Label)
	}
	if !trusted(m.Pubkey) {
		return Summary{}, nil, fmt.Errorf("%w: %w: %s", ErrRefused, ErrUntrusted, m.Pubkey)
	}
	sum := Summary{Signer: m.Pubkey}
	var cids []chunk.CID
	haveInfo, haveRoot := false, false
	for _, f := range m.Files {
		if f.Path == InfoName {
			haveInfo = true
			continue
		}
		d, name := path.Split(f.Path)
		c, err := chunk.ParseCID(name)
		if d != ChunkDir+"/" || err != nil || c.String() != name {
			return Summary{}, nil, fmt.Errorf("%w: %w: %s is neither %s nor %s/<cid>", ErrRefused, ErrNotBundle, f.Path, InfoName, ChunkDir)
		}
		// A chunk's CID is its SHA-256: the manifest's hash must be it.
		if f.SHA256 != name {
			return Summary{}, nil, fmt.Errorf("%w: %s does not hash to its CID", ErrRefused, f.Path)
		}
		if f.Size > store.MaxChunk {
			return Summary{}, nil, fmt.Errorf("%w: %s is over %d bytes", ErrRefused, f.Path, store.MaxChunk)
		}
		cids = append(cids, c)
		sum.Bytes += int64(f.Size)
	}
	if !haveInfo {
		return Summary{}, nil, fmt.Errorf("%w: %w: no %s", ErrRefused, ErrNotBundle, InfoName)
	}
	f, err := os.Open(filepath.Join(dir, InfoName))
	if err != nil {
		return Summary{}, nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxInfoBytes+1))
	f.Close()
	if err != nil {
		return Summary{}, nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if sum.Info, err = ParseInfo(b); err != nil {
		return Summary{}, nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	for _, c := range cids {
		haveRoot = haveRoot || c.String() == sum.Info.Root
	}
	if !haveRoot {
		return Summary{}, nil, fmt.Errorf("%w: %w: root chunk %s missing", ErrRefused, ErrNotBundle, sum.Info.Root)
	}
	sum.Chunks = len(cids)
	return sum, cids, nil
}

// Import checks the bundle in dir (Check), then that no chunk of it is
// held in st for another owner, and only then stores its chunks for their
// owner. Chunks already held are left as they are: importing twice stores
// nothing the second time. Each chunk is hashed again as it is stored.
func Import(st *store.Store, dir string, trusted func(pubkey string) bool) (Summary, error) {
	sum, cids, err := Check(dir, trusted)
	if err != nil {
		return sum, err
	}
	ob, _ := hex.DecodeString(sum.Info.Owner)
	owner := [32]byte(ob)
	var todo []chunk.CID
	for _, c := range cids {
		o, err := st.Owner(c)
		switch {
		case errors.Is(err, store.ErrNotFound):
			todo = append(todo, c)
		case err != nil:
			return sum, fmt.Errorf("%w: %w", ErrRefused, err)
		case o != owner:
			return sum, fmt.Errorf("%w: %w", ErrRefused, fmt.Errorf("%w: %s", store.ErrNotOwner, c))
		default:
			sum.Present++
		}
	}
	var buf []byte
	for _, c := range todo {
		data, err := readChunk(filepath.Join(dir, ChunkDir, c.String()), buf[:0])
		if err != nil {
			return sum, fmt.Errorf("import %s (%d of %d chunks stored): %w", c, sum.Stored, len(todo), err)
		}
		buf = data
		if err := st.Put(c, owner, data); err != nil {
			return sum, fmt.Errorf("import %s (%d of %d chunks stored): %w", c, sum.Stored, len(todo), err)
		}
		sum.Stored++
	}
	return sum, nil
}

func readChunk(p string, buf []byte) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w := bytes.NewBuffer(buf)
	if _, err := io.Copy(w, io.LimitReader(f, store.MaxChunk+1)); err != nil {
		return nil, err
	}
	if w.Len() > store.MaxChunk {
		return nil, fmt.Errorf("%w: over %d bytes", store.ErrTooLarge, store.MaxChunk)
	}
	return w.Bytes(), nil
}
