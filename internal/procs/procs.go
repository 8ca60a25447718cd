// Package procs sets the Go scheduler's processor count (GOMAXPROCS) for
// a process whose data path blocks OS threads in disk system calls:
// agentd, and the benchmarks that measure it.
//
// A goroutine in a blocking system call (an O_DIRECT write, an fsync, a
// file creation) keeps its P, the scheduler's right to run Go code, until
// the call returns or the runtime's monitor takes the P back, which it
// does only after the call has lasted a monitor tick or more (20 µs to 10
// ms). A storage provider has such calls in flight most of the time
// (each chunk's write, the group commit's fsyncs): on a machine with two
// cores and GOMAXPROCS 2 both Ps were often held by calls waiting for the
// disk while the goroutines that hash, seal and carry the stream waited to
// run and the cores sat idle (issue 13, point 7: an execution trace of
// transport Put on one provider had 1.0 P-seconds of 2.2 not running Go
// code while goroutines were runnable). With more Ps than cores, the calls
// waiting for the disk hold the extra ones; the operating system still
// runs at most as many threads as there are cores.
package procs

import (
	"os"
	"runtime"
)

// extra is how many Ps beyond the default SetForBlockingIO adds: enough
// for the disk calls usually in flight at once (a chunk's write and a
// commit's fsync) on a small machine, and a small share of a large one.
const extra = 2

// SetForBlockingIO raises GOMAXPROCS from its default (the CPUs the
// process may use) by extra, unless the environment sets GOMAXPROCS. It
// returns the value before and after. Setting it stops the runtime's
// automatic updates of GOMAXPROCS when the process's CPU limit changes.
func SetForBlockingIO() (before, after int) {
	before = runtime.GOMAXPROCS(0)
	if os.Getenv("GOMAXPROCS") != "" {
		return before, before
	}
	runtime.GOMAXPROCS(before + extra)
	return before, before + extra
}
