package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// pinnedCommand is exec.CommandContext(ctx, name, args...) run on the CPUs
// of the list cpus (taskset's syntax: "1", "0,1", "0-3"; "" leaves the
// affinity alone) at the given niceness (0 leaves it alone). taskset and
// nice set the affinity and niceness and then exec the program in the same
// process, before its runtime starts a thread, so every thread it starts
// inherits both, and the child's pid is the program's.
func pinnedCommand(ctx context.Context, cpus string, niceness int, name string, args ...string) *exec.Cmd {
	argv := append([]string{name}, args...)
	if niceness != 0 {
		argv = append([]string{"nice", "-n", fmt.Sprint(niceness)}, argv...)
	}
	if cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// cpusOf tells which CPUs process pid ("self" or a number) may run on, as
// the kernel lists them (Cpus_allowed_list of /proc/<pid>/status).
func cpusOf(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
