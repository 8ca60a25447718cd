package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// child is one relay served by this binary in a process of its own
// (-serve), so its memory is measured alone.
type child struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	exited chan error // Wait's result, sent once
	// addr is where the child listens, host:port.
	addr string
}

// startChild runs "-serve target -dir dir" with args and waits for the
// address it prints.
func startChild(ctx context.Context, target, dir string, args ...string) (*child, error) {
	return startChildOn(ctx, "", target, dir, args...)
}

// startChildOn is startChild with the child on the CPUs of the list cpus
// ("": wherever this process may run).
func startChildOn(ctx context.Context, cpus, target, dir string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	cmd := pinnedCommand(cctx, cpus, 0, self, append([]string{"-serve", target, "-dir", dir}, args...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	c := &child{cmd: cmd, cancel: cancel, exited: make(chan error, 1)}
	go func() { c.exited <- cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		c.stop(10 * time.Second)
		return nil, fmt.Errorf("child did not start: %q %v", line, err)
	}
	c.addr = strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
	return c, nil
}

// running reports whether the child has not exited.
func (c *child) running() bool {
	select {
	case err := <-c.exited:
		c.exited <- err
		return false
	default:
		return true
	}
}

// stop interrupts the child and kills it if it has not exited after grace.
func (c *child) stop(grace time.Duration) {
	defer c.cancel()
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.exited:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}
