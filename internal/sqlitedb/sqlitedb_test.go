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

// TestOpenMakesFilesPrivate: the database, its WAL and its SHM are 0600
// after Open, new or made 0644 before (by an older version or by hand).
func TestOpenMakesFilesPrivate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		precreate bool
	}{
		{"new", false},
		{"existing 0644", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.db")
			if tc.precreate {
				db, err := Open(t.Context(), path, "relay")
				if err != nil {
					t.Fatal(err)
				}
				db.Close()
				for _, p := range []string{path, path + "-wal", path + "-shm"} {
					if err := os.WriteFile(p, nil, 0o644); err != nil && !os.IsExist(err) {
						t.Fatal(err)
					}
					if err := os.Chmod(p, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			db, err := Open(t.Context(), path, "relay")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("CREATE TABLE IF NOT EXISTS t (x)"); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				info, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if m := info.Mode().Perm(); m != 0o600 {
					t.Errorf("%s: mode %v, want 0600", filepath.Base(p), m)
				}
			}
		})
	}
}
