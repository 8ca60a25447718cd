package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestManifestSignVerify: a folder signed with the agent's key verifies;
// changed, added or removed files are named. No relay or mint is needed.
func TestManifestSignVerify(t *testing.T) {
	env := map[string]string{"SOVMESH_DATA": filepath.Join(t.TempDir(), "agent"), "SOVMESH_PASSPHRASE": "correct horse"}
	cli := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(t.Context(), args, envOf(env), strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
	fresh := func(t *testing.T) string {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "maps"), 0o755)
		os.WriteFile(filepath.Join(dir, "release.tar"), bytes.Repeat([]byte("r"), 1000), 0o644)
		os.WriteFile(filepath.Join(dir, "maps", "area.pbf"), []byte("map"), 0o644)
		if out, errs, code := cli("manifest", "sign", dir, "release 1.0"); code != 0 || !strings.Contains(out, "2 files") {
			t.Fatalf("sign: %d %q %q", code, out, errs)
		}
		return dir
	}
	tests := []struct {
		name   string
		tamper func(dir string)
		want   string // in the error; "" verifies
	}{
		{"untouched", func(string) {}, ""},
		{"a file changed", func(dir string) { os.WriteFile(filepath.Join(dir, "maps", "area.pbf"), []byte("mop"), 0o644) }, "does not match the manifest: maps/area.pbf"},
		{"a file added", func(dir string) { os.WriteFile(filepath.Join(dir, "maps", "extra"), nil, 0o644) }, "not listed in the manifest: maps/extra"},
		{"a file removed", func(dir string) { os.Remove(filepath.Join(dir, "release.tar")) }, "missing: release.tar"},
		{"the manifest edited", func(dir string) {
			p := filepath.Join(dir, "MANIFEST.json")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte("release 1.0"), []byte("release 2.0"), 1), 0o644)
		}, "signature does not verify"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := fresh(t)
			tc.tamper(dir)
			out, errs, code := cli("manifest", "verify", dir)
			if tc.want == "" {
				if code != 0 || !strings.Contains(out, `label "release 1.0", signed by npub1`) {
					t.Fatalf("verify: %d %q %q", code, out, errs)
				}
				return
			}
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Fatalf("verify: %d %q %q; want an error naming %q", code, out, errs, tc.want)
			}
		})
	}
	if _, _, code := cli("manifest", "sign"); code != 2 {
		t.Fatal("manifest sign without a folder is not a usage error")
	}
}
