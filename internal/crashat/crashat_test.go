package crashat

import (
	"os"
	"os/exec"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		spec  string
		calls []string
		dies  int // index of the call that kills, -1: none
		bad   bool
	}{
		{"empty is no hook", "", nil, -1, false},
		{"first by default", "send.swapped", []string{"send.journaled", "send.swapped", "send.swapped"}, 1, false},
		{"the n-th", "receive.journaled:3", []string{"receive.journaled", "send.swapped", "receive.journaled", "receive.journaled", "receive.journaled"}, 3, false},
		{"never reached", "melt.answered", []string{"melt.journaled"}, -1, false},
		{"no dot", "send", nil, -1, true},
		{"zero count", "send.swapped:0", nil, -1, true},
		{"bad count", "send.swapped:x", nil, -1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			died := -1
			i := 0
			h, err := parse(tc.spec, func() {
				if died < 0 {
					died = i
				}
			})
			if (err != nil) != tc.bad {
				t.Fatalf("err %v, want bad=%v", err, tc.bad)
			}
			if tc.spec == "" && h != nil {
				t.Fatal("an empty spec made a hook")
			}
			for i = range tc.calls {
				if err := h(tc.calls[i]); err != nil {
					t.Fatal(err)
				}
			}
			if died != tc.dies {
				t.Fatalf("died at call %d, want %d", died, tc.dies)
			}
		})
	}
}

// TestKills: the hook ends the process with SIGKILL.
func TestKills(t *testing.T) {
	if os.Getenv("CRASHAT_CHILD") == "1" {
		h, _ := FromEnv(os.Getenv)
		_ = h("send.journaled")
		_ = h("send.swapped")
		os.Exit(0) // not reached
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run", "^TestKills$")
	cmd.Env = append(os.Environ(), "CRASHAT_CHILD=1", EnvVar+"=send.swapped")
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != -1 || ee.String() != "signal: killed" {
		t.Fatalf("child: %v, want killed by SIGKILL", err)
	}
}
