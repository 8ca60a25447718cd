package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sovmesh/sovmesh/bench/attack"
)

// attackList resolves "all" or comma-separated attack names.
func attackList(names string) ([]attack.Attack, error) {
	var attacks []attack.Attack
	for _, name := range strings.Split(names, ",") {
		if name = strings.TrimSpace(name); name == "all" {
			attacks = append(attacks, attack.All()...)
		} else if a, ok := attack.ByName(name); ok {
			attacks = append(attacks, a)
		} else {
			return nil, fmt.Errorf("unknown attack %q", name)
		}
	}
	return attacks, nil
}

// runAttackers is the -attackers child: it runs the attacks against url
// from 127.0.0.2 at once for phase, then prints one "TALLY name tally" line
// per attack (tab separated) and exits.
func runAttackers(ctx context.Context, names, url string, phase time.Duration, rounds int) error {
	attacks, err := attackList(names)
	if err != nil {
		return err
	}
	// Started ahead of its slice: say so, and attack once told to (a line
	// or the end of stdin), so the process's start is not part of the
	// attack the honest clients see.
	fmt.Println("READY")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	ctx, cancel := context.WithTimeout(ctx, phase)
	defer cancel()
	tallies := make([]*attack.Tally, len(attacks))
	took := make([]time.Duration, len(attacks))
	start := time.Now()
	var wg sync.WaitGroup
	for i, a := range attacks {
		tallies[i] = &attack.Tally{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Run(ctx, attack.Target{URL: url, From: net.IPv4(127, 0, 0, 2)}, rounds, tallies[i]); err != nil {
				fmt.Fprintf(os.Stderr, "attack %s: %v\n", a.Name, err)
			}
			took[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for i, a := range attacks {
		fmt.Printf("TALLY\t%s\t%s\n", a.Name, tallies[i])
		fmt.Printf("TOOK\t%s\t%d\n", a.Name, took[i].Milliseconds())
	}
	return nil
}

// attackerProc is a running -attackers child.
type attackerProc struct {
	cmd *exec.Cmd
	out *bufio.Scanner
	in  io.WriteCloser
}

// startAttackers starts the attacks (names) against url in a child
// process, for phase, each of at most rounds rounds, at the given
// niceness (0: the load tool's), on the CPUs of the list cpus ("": the
// load tool's). The child starts up and waits: start starts the attacks.
func startAttackers(ctx context.Context, names string, rounds int, phase time.Duration, url string, niceness int, cpus string) (*attackerProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-attackers", names, "-attack-url", url,
		"-attack-phase", phase.String(), "-attack-rounds", fmt.Sprint(rounds)}
	cmd := pinnedCommand(ctx, cpus, niceness, self, args...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &attackerProc{cmd: cmd, out: bufio.NewScanner(stdout), in: stdin}
	for p.out.Scan() {
		if p.out.Text() == "READY" {
			return p, nil
		}
	}
	stdin.Close()
	_ = cmd.Wait()
	return nil, fmt.Errorf("attackers did not start: %v", p.out.Err())
}

// start tells the child to attack.
func (p *attackerProc) start() {
	_, _ = io.WriteString(p.in, "go\n")
	_ = p.in.Close()
}

// wait returns each attack's tally by name (counts by label), how long each
// attack ran (its rounds done, or the slice's end), and the CPU time the
// attackers used, once the child has exited.
func (p *attackerProc) wait() (map[string]map[string]int, map[string]time.Duration, time.Duration, error) {
	tallies := map[string]map[string]int{}
	took := map[string]time.Duration{}
	for p.out.Scan() {
		f := strings.SplitN(p.out.Text(), "\t", 3)
		if len(f) == 3 && f[0] == "TOOK" {
			if ms, err := strconv.Atoi(f[2]); err == nil {
				took[f[1]] = time.Duration(ms) * time.Millisecond
			}
			continue
		}
		if len(f) != 3 || f[0] != "TALLY" {
			continue
		}
		counts := map[string]int{}
		for _, kv := range strings.Split(f[2], ", ") {
			i := strings.LastIndexByte(kv, '=')
			if i < 0 {
				continue
			}
			if n, err := strconv.Atoi(kv[i+1:]); err == nil {
				counts[kv[:i]] += n
			}
		}
		tallies[f[1]] = counts
	}
	if err := p.cmd.Wait(); err != nil {
		return nil, nil, 0, fmt.Errorf("attackers: %w", err)
	}
	st := p.cmd.ProcessState
	return tallies, took, st.UserTime() + st.SystemTime(), nil
}

// tallyString lists counts by label, sorted, as attack.Tally does.
func tallyString(counts map[string]int) string {
	labels := make([]string, 0, len(counts))
	for l := range counts {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	parts := make([]string, len(labels))
	for i, l := range labels {
		parts[i] = fmt.Sprintf("%s=%d", l, counts[l])
	}
	return strings.Join(parts, ", ")
}
