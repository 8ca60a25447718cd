package cashu_test

import (
	"testing"

	"github.com/sovmesh/sovmesh/market/pay/cashu"
)

func FuzzInspect(f *testing.F) {
	f.Add("cashuBo2FteBxodHRwOi8vMTI3LjAuMC4xOjMzMzhhdWNzYXRhdIGiYWlIAJb8aKR9cEdhcIGjYWEEYXN4QDdkNmI")
	f.Add("cashuAeyJ0b2tlbiI6W119")
	f.Add("cashuB")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = cashu.Inspect(s)
	})
}
