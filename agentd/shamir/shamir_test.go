package shamir

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func TestSplitCombineSubsets(t *testing.T) {
	tests := []struct {
		name   string
		n, k   int
		secret int
	}{
		{"3-of-5 key", 5, 3, 32},
		{"2-of-2", 2, 2, 1},
		{"5-of-5", 5, 5, 64},
		{"2-of-255", 255, 2, 16},
		{"10-of-20", 20, 10, 33},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			secret := make([]byte, tc.secret)
			rand.Read(secret)
			shares, err := Split(secret, tc.n, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			if len(shares) != tc.n {
				t.Fatalf("%d shares, want %d", len(shares), tc.n)
			}
			// Every window of k consecutive shares, and all n.
			for start := 0; start+tc.k <= tc.n && start < 40; start++ {
				got, err := Combine(shares[start : start+tc.k])
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, secret) {
					t.Fatalf("shares %d..%d: wrong secret", start, start+tc.k)
				}
			}
			got, err := Combine(shares)
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("all shares: %v", err)
			}
			// k-1 shares give something else (with overwhelming probability
			// for secrets of 16+ bytes).
			if tc.secret >= 16 && tc.k > 2 {
				got, err := Combine(shares[:tc.k-1])
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(got, secret) {
					t.Fatal("k-1 shares rebuilt the secret")
				}
			}
		})
	}
}

// TestKnownVector checks the field arithmetic against a hand-computed split:
// secret 0x42, k = 2, coefficient 0x07: y(x) = 0x42 ^ mul(7, x).
func TestKnownVector(t *testing.T) {
	shares, err := split(bytes.NewReader([]byte{0x07}), []byte{0x42}, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	// mul(7,1) = 7; mul(7,2) = 14.
	if shares[0][1] != 0x42^0x07 || shares[1][1] != 0x42^0x0e {
		t.Fatalf("shares %x %x", shares[0], shares[1])
	}
	if mul(0x57, 0x83) != 0xc1 { // FIPS-197 section 4.2 example
		t.Fatalf("mul(0x57,0x83) = %#x, want 0xc1", mul(0x57, 0x83))
	}
	for a := 1; a < 256; a++ {
		if mul(byte(a), inv(byte(a))) != 1 {
			t.Fatalf("inverse of %d wrong", a)
		}
	}
}

func TestBadInput(t *testing.T) {
	secret := []byte("secret")
	good, _ := Split(secret, 5, 3)
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"k=1", func() error { _, err := Split(secret, 5, 1); return err }, ErrParams},
		{"k>n", func() error { _, err := Split(secret, 3, 4); return err }, ErrParams},
		{"n=256", func() error { _, err := Split(secret, 256, 3); return err }, ErrParams},
		{"empty", func() error { _, err := Split(nil, 5, 3); return err }, ErrEmptySecret},
		{"one share", func() error { _, err := Combine(good[:1]); return err }, ErrShares},
		{"dup x", func() error { _, err := Combine([][]byte{good[0], good[0], good[1]}); return err }, ErrShares},
		{"zero x", func() error { _, err := Combine([][]byte{{0, 1, 2, 3, 4, 5, 6}, good[1]}); return err }, ErrShares},
		{"lengths", func() error { _, err := Combine([][]byte{good[0], good[1][:3]}); return err }, ErrShares},
		{"short", func() error { _, err := Combine([][]byte{{1}, {2}}); return err }, ErrShares},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fn(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzCombine(f *testing.F) {
	s, _ := Split([]byte("0123456789abcdef0123456789abcdef"), 5, 3)
	f.Add(s[0], s[1], s[2])
	f.Add([]byte{1, 2}, []byte{1, 3}, []byte{0})
	f.Add([]byte{}, []byte{9}, []byte{7, 7, 7})
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		out, err := Combine([][]byte{a, b, c})
		if err == nil && len(out) != len(a)-1 {
			t.Fatalf("secret of %d bytes from shares of %d", len(out), len(a))
		}
	})
}

func FuzzSplitCombine(f *testing.F) {
	f.Add([]byte("key"), uint8(5), uint8(3), uint8(0))
	f.Add([]byte{0}, uint8(2), uint8(2), uint8(1))
	f.Fuzz(func(t *testing.T, secret []byte, n, k, off uint8) {
		if len(secret) > 256 {
			return
		}
		shares, err := Split(secret, int(n), int(k))
		if err != nil {
			return
		}
		start := int(off) % (int(n) - int(k) + 1)
		got, err := Combine(shares[start : start+int(k)])
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}
