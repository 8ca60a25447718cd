package sqlitedb

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOpenPathsWithURIChars(t *testing.T) {
	for _, name := range []string{"plain", "a?b", "#1", "100%", "sp ace"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "x.db")
			db, err := Open(t.Context(), path, "relay")
			if err != nil {
				t.Fatal(err)
			}
			var mode string
			if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal mode %q (%v), want wal", mode, err)
			}
			db.Close()
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("database not at %s: %v", path, err)
			}
		})
	}
}
