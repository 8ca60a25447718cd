package main

import (
	"os"
	"strings"
	"testing"
)

func TestPinnedCommand(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	all := cpusOf("self")
	// nice adds to the test's own niceness (go test may itself run niced).
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	own := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))[16]
	tests := []struct {
		name     string
		cpus     string
		niceness int
		wantCPUs string
		wantNice string
	}{
		{name: "unchanged", wantCPUs: all, wantNice: own},
		{name: "pinned to CPU 0", cpus: "0", wantCPUs: "0", wantNice: own},
		{name: "pinned and niced", cpus: "0", niceness: 19, wantCPUs: "0", wantNice: "19"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The child prints its own affinity and niceness (the 19th field
			// of /proc/self/stat), as the kernel sees them after the exec.
			cmd := pinnedCommand(t.Context(), tt.cpus, tt.niceness, "sh", "-c",
				`grep Cpus_allowed_list /proc/self/status | cut -f2; cut -d' ' -f19 /proc/self/stat`)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			got := strings.Fields(string(out))
			if len(got) != 2 || got[0] != tt.wantCPUs || got[1] != tt.wantNice {
				t.Errorf("child ran on CPUs, niceness %q, want [%s %s]", got, tt.wantCPUs, tt.wantNice)
			}
		})
	}
}
