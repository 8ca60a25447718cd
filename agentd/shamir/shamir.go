// Package shamir splits a secret into n shares of which any k rebuild it
// (Shamir's secret sharing over GF(2^8), the field of AES with the
// polynomial x^8+x^4+x^3+x+1). Fewer than k shares reveal nothing about
// the secret: every byte is the constant term of its own random polynomial
// of degree k-1.
//
// A share is its x coordinate (1..255) followed by one y byte per secret
// byte. Combine checks that the shares agree on length and have distinct,
// non-zero x coordinates; it cannot tell a wrong share from a right one, so
// callers verify the result (agentd checks the recovered key's public key).
package shamir

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// Limits on the scheme.
const (
	// MaxShares is the most shares a secret can be split into (x = 1..255).
	MaxShares = 255
	// MaxSecret bounds the secret length.
	MaxSecret = 1 << 16
)

// Errors returned by Split and Combine.
var (
	ErrParams      = errors.New("shamir: invalid parameters")
	ErrShares      = errors.New("shamir: invalid shares")
	ErrEmptySecret = errors.New("shamir: empty secret")
)

// exp and log tables of GF(2^8) with generator 3.
var expTable, logTable = func() (e [510]byte, l [256]byte) {
	x := byte(1)
	for i := range 255 {
		e[i] = x
		e[i+255] = x
		l[x] = byte(i)
		// x *= 3  (x*2 xor x)
		x ^= xtime(x)
	}
	return
}()

func xtime(b byte) byte {
	hi := b >> 7
	return b<<1 ^ (0x1b & -hi)
}

// mul multiplies in GF(2^8). Table-based: timing depends on whether an
// operand is zero, which here leaks nothing the share holder lacks.
func mul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return expTable[int(logTable[a])+int(logTable[b])]
}

func inv(a byte) byte {
	// a != 0 is guaranteed by the callers.
	return expTable[255-int(logTable[a])]
}

// Split divides secret into n shares, any k of which rebuild it.
// 2 <= k <= n <= MaxShares. Randomness comes from crypto/rand.
func Split(secret []byte, n, k int) ([][]byte, error) {
	return split(rand.Reader, secret, n, k)
}

func split(rnd io.Reader, secret []byte, n, k int) ([][]byte, error) {
	if len(secret) == 0 {
		return nil, ErrEmptySecret
	}
	if len(secret) > MaxSecret {
		return nil, fmt.Errorf("%w: secret of %d bytes, at most %d", ErrParams, len(secret), MaxSecret)
	}
	if k < 2 || n < k || n > MaxShares {
		return nil, fmt.Errorf("%w: need 2 <= k (%d) <= n (%d) <= %d", ErrParams, k, n, MaxShares)
	}
	shares := make([][]byte, n)
	for i := range shares {
		shares[i] = make([]byte, len(secret)+1)
		shares[i][0] = byte(i + 1)
	}
	coef := make([]byte, k) // coef[0] = secret byte, coef[1..] random
	defer clear(coef)
	for j, s := range secret {
		coef[0] = s
		if _, err := io.ReadFull(rnd, coef[1:]); err != nil {
			return nil, fmt.Errorf("shamir: randomness: %w", err)
		}
		for i := range shares {
			x := shares[i][0]
			// Horner: y = ((c[k-1] x + c[k-2]) x + ...) x + c[0]
			var y byte
			for d := k - 1; d >= 0; d-- {
				y = mul(y, x) ^ coef[d]
			}
			shares[i][j+1] = y
		}
	}
	return shares, nil
}

// Combine rebuilds the secret from k or more shares by Lagrange
// interpolation at x = 0. All shares must be of the same split; extra
// shares beyond the threshold are used too, so a set with one wrong share
// gives a wrong secret rather than an error: verify the result.
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) < 2 {
		return nil, fmt.Errorf("%w: need at least 2 shares, got %d", ErrShares, len(shares))
	}
	if len(shares) > MaxShares {
		return nil, fmt.Errorf("%w: more than %d shares", ErrShares, MaxShares)
	}
	l := len(shares[0])
	if l < 2 || l > MaxSecret+1 {
		return nil, fmt.Errorf("%w: share length %d", ErrShares, l)
	}
	var seen [256]bool
	xs := make([]byte, len(shares))
	for i, s := range shares {
		if len(s) != l {
			return nil, fmt.Errorf("%w: shares of different lengths", ErrShares)
		}
		if s[0] == 0 {
			return nil, fmt.Errorf("%w: share with x = 0", ErrShares)
		}
		if seen[s[0]] {
			return nil, fmt.Errorf("%w: two shares with x = %d", ErrShares, s[0])
		}
		seen[s[0]] = true
		xs[i] = s[0]
	}
	// Lagrange basis at 0: b_i = prod_{j != i} x_j / (x_j - x_i); in
	// characteristic 2, subtraction is xor.
	basis := make([]byte, len(xs))
	for i, xi := range xs {
		num, den := byte(1), byte(1)
		for j, xj := range xs {
			if i == j {
				continue
			}
			num = mul(num, xj)
			den = mul(den, xj^xi)
		}
		basis[i] = mul(num, inv(den))
	}
	secret := make([]byte, l-1)
	for b := range secret {
		var acc byte
		for i, s := range shares {
			acc ^= mul(s[b+1], basis[i])
		}
		secret[b] = acc
	}
	return secret, nil
}
