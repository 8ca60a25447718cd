package chunk

import (
	"bytes"
	"errors"
	"testing"
)

func newCipher(t *testing.T) *Cipher {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCipher(k)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSealOpen(t *testing.T) {
	c := newCipher(t)
	plain := bytes.Repeat([]byte("sovmesh"), 1000)
	ct := c.Seal(nil, plain, KindData, 7)
	if len(ct) != len(plain)+Overhead {
		t.Fatalf("ciphertext %d bytes", len(ct))
	}
	if bytes.Contains(ct, []byte("sovmesh")) {
		t.Fatal("plaintext visible in ciphertext")
	}
	got, err := c.Open(nil, ct, KindData, 7)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %v", err)
	}
	tampered := bytes.Clone(ct)
	tampered[10] ^= 1
	other := newCipher(t)
	tests := []struct {
		name  string
		c     *Cipher
		ct    []byte
		kind  Kind
		index uint64
	}{
		{"tampered byte", c, tampered, KindData, 7},
		{"truncated", c, ct[:len(ct)-1], KindData, 7},
		{"wrong index", c, ct, KindData, 8},
		{"wrong kind", c, ct, KindManifest, 7},
		{"wrong key", other, ct, KindData, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.c.Open(nil, tc.ct, tc.kind, tc.index); !errors.Is(err, ErrAuth) {
				t.Fatalf("err %v, want ErrAuth", err)
			}
		})
	}
}

func TestSameIndexDifferentFilesDiffer(t *testing.T) {
	a, b := newCipher(t), newCipher(t)
	p := make([]byte, 64)
	if bytes.Equal(a.Seal(nil, p, KindData, 0), b.Seal(nil, p, KindData, 0)) {
		t.Fatal("two file keys gave the same ciphertext")
	}
}

func TestParseCID(t *testing.T) {
	c := Sum([]byte("x"))
	got, err := ParseCID(c.String())
	if err != nil || got != c {
		t.Fatalf("round trip: %v", err)
	}
	for _, s := range []string{"", "zz", c.String()[:62]} {
		if _, err := ParseCID(s); !errors.Is(err, ErrBadCID) {
			t.Fatalf("%q: err %v", s, err)
		}
	}
}

func sampleManifest() *Manifest {
	m := &Manifest{FileSize: 5*MinSize + 1, ChunkSize: MinSize, DataShards: 4, ParityShards: 2}
	for i := range 6 {
		m.Providers = append(m.Providers, [32]byte{byte(i + 1)})
	}
	// 6 chunks -> 2 stripes of 4; stripe 1 has 2 virtual data shards.
	for s := range 2 {
		st := make([]CID, 6)
		for j := range st {
			if j < 4 && s*4+j >= 6 {
				continue
			}
			st[j] = Sum([]byte{byte(s), byte(j)})
		}
		m.Stripes = append(m.Stripes, st)
	}
	m.Audits = []Audit{{Stripe: 1, Shard: 5, Challenges: [][32]byte{{1}, {2}}, Answers: [][32]byte{{3}, {4}}}}
	return m
}

func TestManifestRoundTrip(t *testing.T) {
	c := newCipher(t)
	m := sampleManifest()
	ct, root, err := SealManifest(c, m)
	if err != nil {
		t.Fatal(err)
	}
	if Sum(ct) != root {
		t.Fatal("root is not the manifest chunk's CID")
	}
	got, err := OpenManifest(c, ct)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.MarshalBinary()
	b, _ := got.MarshalBinary()
	if !bytes.Equal(a, b) {
		t.Fatal("manifest changed in round trip")
	}
	ct[0] ^= 1
	if _, err := OpenManifest(c, ct); !errors.Is(err, ErrAuth) {
		t.Fatalf("tampered manifest: %v", err)
	}
}

func TestManifestInvalid(t *testing.T) {
	tests := []struct {
		name string
		mod  func(m *Manifest)
	}{
		{"chunk size", func(m *Manifest) { m.ChunkSize = 1 }},
		{"no data shards", func(m *Manifest) { m.DataShards = 0 }},
		{"too few providers", func(m *Manifest) { m.Providers = m.Providers[:5] }},
		{"stripe count", func(m *Manifest) { m.Stripes = m.Stripes[:1] }},
		{"missing shard", func(m *Manifest) { m.Stripes[0][1] = CID{} }},
		{"virtual shard set", func(m *Manifest) { m.Stripes[1][3] = CID{1} }},
		{"audit of virtual shard", func(m *Manifest) { m.Audits[0].Shard = 3 }},
		{"audit answers", func(m *Manifest) { m.Audits[0].Answers = nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleManifest()
			tc.mod(m)
			if _, err := m.MarshalBinary(); !errors.Is(err, ErrBadManifest) {
				t.Fatalf("err %v", err)
			}
		})
	}
	good, _ := sampleManifest().MarshalBinary()
	for _, n := range []int{0, 3, 10, len(good) - 1} {
		var m Manifest
		if err := m.UnmarshalBinary(good[:n]); !errors.Is(err, ErrBadManifest) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	var m Manifest
	if err := m.UnmarshalBinary(append(bytes.Clone(good), 0)); !errors.Is(err, ErrBadManifest) {
		t.Fatalf("trailing byte: %v", err)
	}
}

func FuzzManifest(f *testing.F) {
	good, _ := sampleManifest().MarshalBinary()
	f.Add(good)
	f.Add([]byte("SMM1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Manifest
		if err := m.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrBadManifest) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		out, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("parsed manifest does not re-encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatal("re-encoding differs")
		}
	})
}
