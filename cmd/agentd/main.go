// Command agentd is sovmesh's agent daemon: it buys and sells storage,
// bandwidth and inference on the market for a person or an AI agent.
//
// The first start generates a Nostr key (stored as a NIP-49 ncryptsec) and
// works with defaults; `agentd -h` lists the commands and settings.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/sovmesh/sovmesh/internal/procs"
)

func main() {
	// Disk calls (chunk writes, fsyncs) hold Ps while they wait: see
	// internal/procs.
	procs.SetForBlockingIO()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// env is what a command sees of the process.
type env struct {
	cfg    config
	apiKey string // SOVMESH_OPENAI_KEY: bearer key of the local endpoint (a secret: env only)
	args   []string
	// command is the subcommand (provide, wallet, ...), named in the lock.
	command string
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	// The logger (from the node's goroutines: mDNS, relays) and the
	// commands both write to stderr: one write at a time.
	stderr = &lockedWriter{w: stderr}
	var defaults = defaultConfig()
	if topic, ok := helpTopic(newFlagSet(&defaults), args); ok {
		return help(stdout, stderr, newFlagSet(&defaults), topic)
	}
	cfg, pos, err := parseConfig(args, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "agentd: %s\n", oneLine(err))
		return 2
	}
	if len(pos) == 0 {
		usage(stderr, newFlagSet(&defaults))
		return 2
	}
	c, ok := findCommand(pos[0])
	if !ok {
		unknownCommand(stderr, pos[0])
		return 2
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "agentd: %s\n", oneLine(err))
		return 2
	}
	cfg.node.Logger = log
	e := &env{cfg: cfg, command: pos[0], args: pos[1:], stdin: stdin, stdout: stdout, stderr: stderr, apiKey: getenv("SOVMESH_OPENAI_KEY")}
	if err := c.run(ctx, e); err != nil {
		fmt.Fprintf(stderr, "agentd: %s\n", oneLine(err))
		if errUsage(err) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError is a command used wrongly (exit code 2).
type usageError string

// Error implements error.
func (u usageError) Error() string { return string(u) }

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
