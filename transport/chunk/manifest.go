package chunk

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadManifest reports a manifest that does not parse or is inconsistent.
var ErrBadManifest = errors.New("chunk: bad manifest")

// MaxShards is the largest number of shards per stripe (data + parity).
const MaxShards = 64

// MaxManifestSize bounds an encoded manifest so it fits in one chunk.
const MaxManifestSize = MaxSize

const manifestMagic = "SMM1"

// Manifest lists the chunks of one file. It is sealed under the file key
// (kind KindManifest, index 0) and stored as a chunk; its CID is the file's
// root. Providers never see it in the clear.
//
// Data is cut into stripes of DataShards chunks; each stripe gets
// ParityShards Reed-Solomon parity shards computed over the ciphertext. Shard
// j of stripe s lives on Providers[(s+j) % len(Providers)], so any
// ParityShards providers can be lost. Data shards past the end of the file
// are virtual all-zero ciphertext: they are not stored and their CID is zero.
type Manifest struct {
	FileSize     uint64
	ChunkSize    uint32
	DataShards   uint8
	ParityShards uint8
	Providers    [][32]byte // Nostr x-only public keys
	Stripes      [][]CID    // each of length DataShards+ParityShards
	Audits       []Audit
}

// Audit holds precomputed storage-proof answers for one shard: Answers[i]
// is SHA-256(shard ciphertext || Challenges[i]).
type Audit struct {
	Stripe     uint32
	Shard      uint8
	Challenges [][32]byte
	Answers    [][32]byte
}

// Shards returns DataShards+ParityShards.
func (m *Manifest) Shards() int { return int(m.DataShards) + int(m.ParityShards) }

// Chunks returns the number of data chunks of the file.
func (m *Manifest) Chunks() uint64 {
	if m.ChunkSize == 0 {
		return 0
	}
	return (m.FileSize + uint64(m.ChunkSize) - 1) / uint64(m.ChunkSize)
}

// ProviderOf returns the index in Providers of the provider holding shard j
// of stripe s.
func (m *Manifest) ProviderOf(s, j int) int { return (s + j) % len(m.Providers) }

// Validate checks the manifest's internal consistency.
func (m *Manifest) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadManifest, fmt.Sprintf(format, a...))
	}
	if m.ChunkSize < MinSize || m.ChunkSize > MaxSize {
		return bad("chunk size %d out of range", m.ChunkSize)
	}
	if m.DataShards == 0 || m.Shards() > MaxShards {
		return bad("shards %d+%d out of range", m.DataShards, m.ParityShards)
	}
	if len(m.Providers) < m.Shards() {
		return bad("%d providers for %d shards", len(m.Providers), m.Shards())
	}
	k := uint64(m.DataShards)
	chunks := m.Chunks()
	if want := (chunks + k - 1) / k; uint64(len(m.Stripes)) != want {
		return bad("%d stripes, want %d", len(m.Stripes), want)
	}
	for s, st := range m.Stripes {
		if len(st) != m.Shards() {
			return bad("stripe %d has %d shards", s, len(st))
		}
		for j, c := range st {
			virtual := j < int(k) && uint64(s)*k+uint64(j) >= chunks
			if virtual != c.IsZero() {
				return bad("stripe %d shard %d: zero CID mismatch", s, j)
			}
		}
	}
	for i, a := range m.Audits {
		if int(a.Stripe) >= len(m.Stripes) || int(a.Shard) >= m.Shards() || m.Stripes[a.Stripe][a.Shard].IsZero() {
			return bad("audit %d names no stored shard", i)
		}
		if len(a.Challenges) != len(a.Answers) || len(a.Challenges) > 255 {
			return bad("audit %d: challenge count", i)
		}
	}
	return nil
}

// MarshalBinary encodes the manifest.
func (m *Manifest) MarshalBinary() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	n := 4 + 8 + 4 + 2 + 2 + 32*len(m.Providers) + 4 + 32*m.Shards()*len(m.Stripes) + 4
	for _, a := range m.Audits {
		n += 6 + 64*len(a.Challenges)
	}
	if n > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes, file too large for one manifest", ErrBadManifest, n)
	}
	b := make([]byte, 0, n)
	b = append(b, manifestMagic...)
	b = binary.BigEndian.AppendUint64(b, m.FileSize)
	b = binary.BigEndian.AppendUint32(b, m.ChunkSize)
	b = append(b, m.DataShards, m.ParityShards)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Providers)))
	for _, p := range m.Providers {
		b = append(b, p[:]...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Stripes)))
	for _, st := range m.Stripes {
		for _, c := range st {
			b = append(b, c[:]...)
		}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Audits)))
	for _, a := range m.Audits {
		b = binary.BigEndian.AppendUint32(b, a.Stripe)
		b = append(b, a.Shard, byte(len(a.Challenges)))
		for i := range a.Challenges {
			b = append(b, a.Challenges[i][:]...)
			b = append(b, a.Answers[i][:]...)
		}
	}
	return b, nil
}

// UnmarshalBinary decodes and validates a manifest.
func (m *Manifest) UnmarshalBinary(b []byte) error {
	if len(b) > MaxManifestSize {
		return fmt.Errorf("%w: too large", ErrBadManifest)
	}
	d := decoder{b: b}
	if string(d.take(4)) != manifestMagic {
		return fmt.Errorf("%w: magic", ErrBadManifest)
	}
	var out Manifest
	out.FileSize = d.u64()
	out.ChunkSize = d.u32()
	out.DataShards = d.u8()
	out.ParityShards = d.u8()
	np := int(d.u16())
	if d.err == nil && np*32 > d.left() {
		d.fail()
	}
	for i := 0; i < np && d.err == nil; i++ {
		out.Providers = append(out.Providers, [32]byte(d.take(32)))
	}
	ns := int(d.u32())
	shards := out.Shards()
	if d.err == nil && (shards == 0 || ns > d.left()/(32*shards)) {
		if ns != 0 {
			d.fail()
		}
	}
	for i := 0; i < ns && d.err == nil; i++ {
		st := make([]CID, shards)
		for j := range st {
			st[j] = CID(d.take(32))
		}
		out.Stripes = append(out.Stripes, st)
	}
	na := int(d.u32())
	if d.err == nil && na > d.left()/6 {
		d.fail()
	}
	for i := 0; i < na && d.err == nil; i++ {
		a := Audit{Stripe: d.u32(), Shard: d.u8()}
		nc := int(d.u8())
		for j := 0; j < nc && d.err == nil; j++ {
			a.Challenges = append(a.Challenges, [32]byte(d.take(32)))
			a.Answers = append(a.Answers, [32]byte(d.take(32)))
		}
		out.Audits = append(out.Audits, a)
	}
	if d.err != nil {
		return fmt.Errorf("%w: truncated", ErrBadManifest)
	}
	if d.left() != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadManifest, d.left())
	}
	if err := out.Validate(); err != nil {
		return err
	}
	*m = out
	return nil
}

type decoder struct {
	b   []byte
	err error
}

var zero32 [32]byte

func (d *decoder) fail() { d.err = ErrBadManifest }

func (d *decoder) left() int { return len(d.b) }

func (d *decoder) take(n int) []byte {
	if d.err != nil || len(d.b) < n {
		d.fail()
		if n == 32 {
			return zero32[:]
		}
		return make([]byte, n)
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) u8() uint8   { return d.take(1)[0] }
func (d *decoder) u16() uint16 { return binary.BigEndian.Uint16(d.take(2)) }
func (d *decoder) u32() uint32 { return binary.BigEndian.Uint32(d.take(4)) }
func (d *decoder) u64() uint64 { return binary.BigEndian.Uint64(d.take(8)) }

// SealManifest encodes and seals m under c, returning the manifest chunk and
// its CID (the file's root).
func SealManifest(c *Cipher, m *Manifest) ([]byte, CID, error) {
	plain, err := m.MarshalBinary()
	if err != nil {
		return nil, CID{}, err
	}
	ct := c.Seal(nil, plain, KindManifest, 0)
	return ct, Sum(ct), nil
}

// OpenManifest opens and decodes a manifest chunk.
func OpenManifest(c *Cipher, ciphertext []byte) (*Manifest, error) {
	plain, err := c.Open(nil, ciphertext, KindManifest, 0)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := m.UnmarshalBinary(plain); err != nil {
		return nil, err
	}
	return &m, nil
}
