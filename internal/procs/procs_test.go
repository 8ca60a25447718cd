package procs

import (
	"runtime"
	"testing"
)

func TestSetForBlockingIO(t *testing.T) {
	tests := []struct {
		name string
		env  string // GOMAXPROCS in the environment ("" unset)
		want func(def int) int
	}{
		{name: "default raised by extra", env: "", want: func(def int) int { return def + extra }},
		{name: "environment wins", env: "1", want: func(def int) int { return def }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def := runtime.GOMAXPROCS(0)
			t.Cleanup(func() { runtime.GOMAXPROCS(def) })
			t.Setenv("GOMAXPROCS", tt.env)
			before, after := SetForBlockingIO()
			if before != def {
				t.Errorf("before = %d, want %d", before, def)
			}
			if got := runtime.GOMAXPROCS(0); got != tt.want(def) || after != got {
				t.Errorf("GOMAXPROCS = %d (reported %d), want %d", got, after, tt.want(def))
			}
		})
	}
}
