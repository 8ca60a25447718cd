//go:build nodevmint

package main

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// Run by .ci/run with -tags nodevmint.
func TestNoDevMintNeedsMints(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want error
	}{
		{"no mints", nil, nil, errNoDevMint},
		{"mints flag", []string{"--mints", "https://mint.example.com"}, nil, nil},
		{"mints env", nil, map[string]string{"SOVMESH_MINTS": "https://mint.example.com"}, nil},
		{"dev mint address", []string{"--mints", "https://mint.example.com", "--dev-mint-listen", "127.0.0.1:3338"}, nil, errNoDevMint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if !errors.Is(err, tc.want) {
				t.Fatalf("parseConfig = %v, want %v", err, tc.want)
			}
		})
	}
	var stderr strings.Builder
	if code := run(t.Context(), []string{"--data", t.TempDir()}, func(string) string { return "" }, &stderr); code != 2 || !strings.Contains(stderr.String(), "--mints") {
		t.Fatalf("run with no mints: exit %d, %q; want 2 naming --mints", code, stderr.String())
	}
}
