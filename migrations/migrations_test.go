package migrations

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"testing/fstest"

	_ "modernc.org/sqlite"
)

func openTemp(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestApplyEmbeddedSets(t *testing.T) {
	for _, set := range []string{"relay"} {
		t.Run(set, func(t *testing.T) {
			db := openTemp(t)
			v, err := Apply(t.Context(), db, set)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			ms, _ := Load(set)
			if v != ms[len(ms)-1].Version {
				t.Fatalf("version %d, want %d", v, ms[len(ms)-1].Version)
			}
			// Applying again is a no-op.
			v2, err := Apply(t.Context(), db, set)
			if err != nil || v2 != v {
				t.Fatalf("re-apply: %d %v", v2, err)
			}
		})
	}
}

func TestApplyInOrderAndRefuseNewer(t *testing.T) {
	fsys := fstest.MapFS{
		"x/0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"x/0002_b.sql": {Data: []byte("ALTER TABLE a ADD COLUMN y TEXT;")},
	}
	ms, err := load(fsys, "x")
	if err != nil {
		t.Fatal(err)
	}
	db := openTemp(t)
	if v, err := apply(t.Context(), db, "x", ms[:1]); err != nil || v != 1 {
		t.Fatalf("first step: %d %v", v, err)
	}
	if v, err := apply(t.Context(), db, "x", ms); err != nil || v != 2 {
		t.Fatalf("second step: %d %v", v, err)
	}
	if _, err := db.Exec("INSERT INTO a (x, y) VALUES (1, 'z')"); err != nil {
		t.Fatalf("schema not migrated: %v", err)
	}
	// An older binary (knowing only version 1) must refuse.
	_, err = apply(t.Context(), db, "x", ms[:1])
	if !errors.Is(err, ErrDatabaseNewer) {
		t.Fatalf("got %v, want ErrDatabaseNewer", err)
	}
}

func TestLoadRejectsBadSets(t *testing.T) {
	tests := []struct {
		name string
		fs   fstest.MapFS
	}{
		{"gap", fstest.MapFS{"x/0001_a.sql": {}, "x/0003_c.sql": {}}},
		{"bad name", fstest.MapFS{"x/first.sql": {}}},
		{"empty", fstest.MapFS{"x/readme.txt": {}}},
		{"missing", fstest.MapFS{"y/0001_a.sql": {}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := load(tc.fs, "x"); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}

func TestFailedMigrationLeavesVersion(t *testing.T) {
	fsys := fstest.MapFS{
		"x/0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"x/0002_b.sql": {Data: []byte("CREATE TABLE broken (;")},
	}
	ms, err := load(fsys, "x")
	if err != nil {
		t.Fatal(err)
	}
	db := openTemp(t)
	v, err := apply(t.Context(), db, "x", ms)
	if err == nil || v != 1 {
		t.Fatalf("got %d %v, want version 1 and an error", v, err)
	}
	if got, _ := Version(t.Context(), db); got != 1 {
		t.Fatalf("recorded version %d, want 1", got)
	}
}
