package pgsqldb

import "testing"

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"none", `SELECT 1`, `SELECT 1`},
		{"in order", `UPDATE t SET a = ?, b = ? WHERE c = ?`, `UPDATE t SET a = $1, b = $2 WHERE c = $3`},
		{"list", `WHERE s IN (?,?,?)`, `WHERE s IN ($1,$2,$3)`},
		{"quoted", `SELECT '?', "a?" FROM t WHERE x = ? AND y = 'it''s?'`, `SELECT '?', "a?" FROM t WHERE x = $1 AND y = 'it''s?'`},
		{"comment", "SELECT ? -- what?\n, ?", "SELECT $1 -- what?\n, $2"},
		{"unterminated", `SELECT ? 'a?`, `SELECT $1 'a?`},
		{"comment at end", `SELECT ? -- ?`, `SELECT $1 -- ?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Rebind(tc.in); got != tc.want {
				t.Fatalf("Rebind(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
