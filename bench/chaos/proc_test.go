package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/internal/syncbuf"
)

// buildBinaries compiles meshrelay and agentd once per test run, side by
// side, without -race (the children are many; the test process has it)
// and without debug information (a faster link).
func buildBinaries(t *testing.T) (relay, agent string) {
	t.Helper()
	dir := t.TempDir()
	relay, agent = filepath.Join(dir, "meshrelay"), filepath.Join(dir, "agentd")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, b := range [][2]string{{relay, "../../cmd/meshrelay"}, {agent, "../../cmd/agentd"}} {
		wg.Go(func() {
			out, err := exec.CommandContext(t.Context(), "go", "build", "-ldflags=-s -w", "-o", b[0], b[1]).CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("build %s: %w\n%s", b[1], err, out)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return relay, agent
}

// proc is one child process.
type proc struct {
	name string
	arm  string // its SOVMESH_CRASH_AT, "" if none
	cmd  *exec.Cmd
	out  syncbuf.Buffer
	errb syncbuf.Buffer
	done chan struct{} // closed once it exited
	err  error         // Wait's result, set before done closes
	// stopped is set when the test itself stopped or killed it.
	stopped bool
}

// spawn starts bin with args and env (added to the test's own), armed to
// crash at arm. The child is killed when the test ends.
func spawn(t *testing.T, name, arm, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, arm: arm, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	if arm != "" {
		p.cmd.Env = append(p.cmd.Env, "SOVMESH_CRASH_AT="+arm)
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errb
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

// result is Wait's result once it has ended, nil before.
func (p *proc) result() error {
	if !p.exited() {
		return nil
	}
	return p.err
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// crashed reports whether it ended by SIGKILL the test did not send: its
// crash point.
func (p *proc) crashed() bool {
	if !p.exited() || p.stopped {
		return false
	}
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// waitFor polls its stderr until it holds want, it exits, or d passes.
func (p *proc) waitFor(want string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for !strings.Contains(p.errb.String(), want) {
		if p.exited() {
			return fmt.Errorf("%s exited (%v) before %q", p.name, p.result(), want)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no %q within %v", p.name, want, d)
		}
		select {
		case <-p.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// wait waits at most d for the process to end; it kills it after that.
func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.kill()
		return fmt.Errorf("%s did not end within %v", p.name, d)
	}
}

// stop asks it to end (SIGTERM) and kills it after 30 s.
func (p *proc) stop() error {
	if p.exited() {
		return p.err
	}
	p.stopped = true
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait(30 * time.Second)
}

// kill ends it at once.
func (p *proc) kill() {
	if p.exited() {
		return
	}
	p.stopped = true
	_ = p.cmd.Process.Kill()
	<-p.done
}

// runCmd runs a one-shot command to its end (at most d).
func runCmd(ctx context.Context, t *testing.T, name, arm, bin string, env []string, d time.Duration, args ...string) *proc {
	t.Helper()
	p := spawn(t, name, arm, bin, env, args...)
	select {
	case <-p.done:
	case <-ctx.Done():
		p.kill()
	case <-time.After(d):
		p.kill()
	}
	return p
}
