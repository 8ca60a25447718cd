package cashu_test

import (
	"testing"

	gcashu "github.com/elnosh/gonuts/cashu"
)

// forge flips the signature of a token's first proof to another valid point.
func forge(t *testing.T, token string) string {
	t.Helper()
	tok, err := gcashu.DecodeToken(token)
	if err != nil {
		t.Fatal(err)
	}
	ps := tok.Proofs()
	ps[0].C = "02" + ps[0].C[2:]
	if ps[0].C == tok.Proofs()[0].C {
		ps[0].C = "03" + ps[0].C[2:]
	}
	ps[0].DLEQ = nil
	t4, err := gcashu.NewTokenV4(ps, tok.Mint(), gcashu.Sat, false)
	if err != nil {
		t.Fatal(err)
	}
	s, err := t4.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
