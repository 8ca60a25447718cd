package settings

import (
	"strings"
	"testing"
)

// FuzzParseFile: any file parses or fails with an error naming the line,
// and what parses has non-empty, trimmed, unique names.
func FuzzParseFile(f *testing.F) {
	for _, s := range []string{
		"listen = 0.0.0.0:7447\n# comment\nauth = writes\n", "a=\"quoted\"\n", "=x\n", "noequals\n",
		"a = 1\na = 2\n", "  \n\t# x\n", "a = b = c\n", "a = \"\n", "a = " + strings.Repeat("x", 70000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, file string) {
		kvs, err := parseFile(strings.NewReader(file))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error without a line number: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, kv := range kvs {
			if kv.name == "" || kv.name != strings.TrimSpace(kv.name) || seen[kv.name] || kv.line < 1 {
				t.Fatalf("bad entry %+v from %q", kv, file)
			}
			seen[kv.name] = true
		}
	})
}
