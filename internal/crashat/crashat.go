// Package crashat kills the process at a named step of its payment code,
// for crash tests of the real binaries (bench/chaos). It is inert unless
// asked for: agentd and meshrelay read SOVMESH_CRASH_AT=STEP[:N] from the
// environment and pass the hook to their wallet (cashu.Config.StepHook) and
// fee collector (fees.Config.StepHook); the N-th time (default the first)
// the process reaches STEP, right after that step's journal commit, it
// sends itself SIGKILL, as a power cut or the OOM killer would: no
// deferred function, no flush, no clean close runs.
//
// The steps are the payment code's: "send.journaled", "send.swapped",
// "send.sent" (the token made and journaled, not yet handed over),
// "receive.journaled", "receive.swapped", "reclaim.journaled",
// "reclaim.swapped", "split.journaled", "split.swapped", "mint.journaled",
// "melt.journaled", "melt.answered", "mint.paid" (market/pay/cashu) and
// "fee.received" (market/pay/fees).
package crashat

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// EnvVar names the environment variable the binaries read.
const EnvVar = "SOVMESH_CRASH_AT"

// stepName is what a step looks like ("send.swapped").
var stepName = regexp.MustCompile(`^[a-z]+\.[a-z]+$`)

// Parse reads a STEP[:N] spec and returns a hook that kills the process
// the N-th time it is called with STEP. An empty spec returns nil: no
// hook.
func Parse(spec string) (func(step string) error, error) {
	return parse(spec, kill)
}

// FromEnv is Parse of the EnvVar in getenv; its error names the variable.
func FromEnv(getenv func(string) string) (func(step string) error, error) {
	h, err := Parse(getenv(EnvVar))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvVar, err)
	}
	return h, nil
}

func parse(spec string, die func()) (func(step string) error, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	step, count, hasCount := strings.Cut(spec, ":")
	if !stepName.MatchString(step) {
		return nil, fmt.Errorf("step %q: want KIND.STEP such as send.swapped", step)
	}
	n := uint64(1)
	if hasCount {
		var err error
		if n, err = strconv.ParseUint(count, 10, 32); err != nil || n == 0 {
			return nil, fmt.Errorf("count %q: want a positive number", count)
		}
	}
	var mu sync.Mutex
	var seen uint64
	return func(s string) error {
		if s != step {
			return nil
		}
		mu.Lock()
		seen++
		hit := seen == n
		mu.Unlock()
		if hit {
			die()
		}
		return nil
	}, nil
}

// kill sends SIGKILL to this process and waits for it to land.
func kill() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
