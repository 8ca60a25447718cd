package nips

import (
	"encoding/hex"
	"path"
	"strconv"
	"strings"

	"github.com/nbd-wtf/go-nostr"
)

// MaxManifestFiles bounds the files one manifest lists.
const MaxManifestFiles = 100000

// Manifest lists the files of a folder with their sizes and SHA-256 hashes
// (kind 8467, regular), signed by whoever made the folder. See manifest.md.
type Manifest struct {
	// Label says what the folder holds ("sovmesh-events", "sovmesh-chunks",
	// or anything else for a folder signed by hand).
	Label string
	Files []ManifestFile

	// Set by ParseManifest from the event.
	Pubkey    string
	EventID   string
	CreatedAt nostr.Timestamp
}

// ManifestFile is one file of a manifest.
type ManifestFile struct {
	// Path is slash-separated, relative to the folder, clean, without ".."
	// and never the manifest itself.
	Path   string
	Size   uint64
	SHA256 string // lowercase hex
}

// ManifestName is the manifest's file name in the folder it describes.
const ManifestName = "MANIFEST.json"

// ToEvent encodes the manifest as an unsigned event.
func (m Manifest) ToEvent(createdAt nostr.Timestamp) nostr.Event {
	tags := make(nostr.Tags, 0, len(m.Files)+2)
	tags = append(tags, nostr.Tag{"label", m.Label}, nostr.Tag{"alt", "sovmesh folder manifest: files with their SHA-256"})
	for _, f := range m.Files {
		tags = append(tags, nostr.Tag{"file", f.Path, f.SHA256, strconv.FormatUint(f.Size, 10)})
	}
	return nostr.Event{Kind: KindManifest, CreatedAt: createdAt, Tags: tags}
}

// ParseManifest reads and checks a manifest: one label, file tags with a
// safe relative path (listed once), a 64-hex-digit hash and a size. It does
// not check the signature.
func ParseManifest(evt *nostr.Event) (Manifest, error) {
	p := newParser("manifest")
	if err := p.kind(evt, KindManifest); err != nil {
		return Manifest{}, err
	}
	m := Manifest{Pubkey: evt.PubKey, EventID: evt.ID, CreatedAt: evt.CreatedAt}
	paths := make(map[string]bool)
	for _, tag := range evt.Tags {
		if len(tag) == 0 {
			continue
		}
		switch tag[0] {
		case "label":
			if err := p.once("label"); err != nil {
				return Manifest{}, err
			}
			if err := p.want(tag, 2, `["label", text]`); err != nil {
				return Manifest{}, err
			}
			m.Label = tag[1]
		case "file":
			if err := p.want(tag, 4, `["file", path, sha256, size]`); err != nil {
				return Manifest{}, err
			}
			if len(m.Files) >= MaxManifestFiles {
				return Manifest{}, perr(p.typ, "file", ErrOutOfRange, "more than %d files", MaxManifestFiles)
			}
			if !SafeManifestPath(tag[1]) {
				return Manifest{}, perr(p.typ, "file", ErrBadValue, "path %.80q is not a clean relative path", tag[1])
			}
			if paths[tag[1]] {
				return Manifest{}, perr(p.typ, "file", ErrDuplicateTag, "path %.80q listed twice", tag[1])
			}
			paths[tag[1]] = true
			if b, err := hex.DecodeString(tag[2]); err != nil || len(b) != 32 || strings.ToLower(tag[2]) != tag[2] {
				return Manifest{}, perr(p.typ, "file", ErrBadValue, "sha256 of %.80q is not 64 lowercase hex digits", tag[1])
			}
			size, err := p.uint(tag, 3, 0, 1<<62)
			if err != nil {
				return Manifest{}, err
			}
			m.Files = append(m.Files, ManifestFile{Path: tag[1], SHA256: tag[2], Size: size})
		}
	}
	if err := p.require("label"); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// SafeManifestPath reports whether p may name a file of a manifest: a clean
// slash-separated relative path with no "." or ".." element, no backslash or
// NUL, and not the manifest itself.
func SafeManifestPath(p string) bool {
	if p == "" || len(p) > 4096 || p == ManifestName || strings.ContainsAny(p, "\\\x00") ||
		path.IsAbs(p) || path.Clean(p) != p {
		return false
	}
	for _, el := range strings.Split(p, "/") {
		if el == "." || el == ".." || el == "" {
			return false
		}
	}
	return true
}
