// Package pgtest gives tests a PostgreSQL database each. A package's TestMain
// calls Main. DB uses the server named by SOVMESH_TEST_POSTGRES (a URL of a
// role that may create databases) or else, at its first call, starts a
// throwaway cluster with
// the initdb and postgres binaries found on PATH or in Debian's
// /usr/lib/postgresql/<version>/bin, on a free loopback port, which Main
// stops when the tests end. Each DB call creates a fresh database for one
// test and drops it after.
//
// Without a server DB skips the test, naming why; with
// SOVMESH_TEST_POSTGRES_REQUIRED=1 (CI sets it) it fails instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by Main and DB.
const (
	EnvURL      = "SOVMESH_TEST_POSTGRES"
	EnvRequired = "SOVMESH_TEST_POSTGRES_REQUIRED"
)

var (
	mainCalled bool
	durable    bool

	once       sync.Once
	adminURL   string // server URL with rights to create databases; "" when none
	skipReason string
	started    *cluster
)

// Main runs the package's tests and returns the exit code for os.Exit. The
// cluster DB may start (at its first call, so tests that need no database
// and fuzz workers start none) is stopped before Main returns, and is killed
// by the kernel if the test binary dies first.
func Main(m *testing.M) int {
	flag.Parse()
	mainCalled = true
	// Benchmarks measure a durable server; tests need no crash safety.
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		durable = true
	}
	code := m.Run()
	if started != nil {
		if err := started.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop cluster: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

func setup() {
	if u := os.Getenv(EnvURL); u != "" {
		adminURL = u
		return
	}
	if !mainCalled {
		skipReason = "pgtest.Main was not called from TestMain"
		return
	}
	c, err := startCluster(durable)
	if err != nil {
		skipReason = err.Error()
		return
	}
	started, adminURL = c, c.url
}

// DB creates an empty database for t and returns its URL; the database is
// dropped when t ends.
func DB(t testing.TB) string {
	t.Helper()
	once.Do(setup)
	if adminURL == "" {
		if os.Getenv(EnvRequired) == "1" {
			t.Fatalf("PostgreSQL is required (%s=1) but unavailable: %s", EnvRequired, skipReason)
		}
		t.Skipf("no PostgreSQL: %s (set %s to a server URL, or install PostgreSQL)", skipReason, EnvURL)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "sovmesh_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := adminExec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := adminExec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatalf("%s: not a URL", EnvURL)
	}
	u.Path = "/" + name
	return u.String()
}

func adminExec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to the test server: %w", err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// cluster is a postgres server process this package started.
type cluster struct {
	dir  string
	url  string
	cmd  *exec.Cmd
	done chan error // the server's exit
}

// findBin returns the path of a PostgreSQL server binary.
func findBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(found) == 0 {
		return "", fmt.Errorf("%s not found on PATH or in /usr/lib/postgresql/*/bin", name)
	}
	slices.SortFunc(found, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
	return found[0], nil
}

func pgVersion(binPath string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(binPath))))
	return v
}

func startCluster(durable bool) (*cluster, error) {
	initdb, err := findBin("initdb")
	if err != nil {
		return nil, err
	}
	postgres, err := findBin("postgres")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sovmesh-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, done: make(chan error, 1)}
	// PostgreSQL refuses to run as root: run it as the postgres user then.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initCmd := exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initCmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initCmd.Dir = dir
	if out, err := initCmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w: %s", err, tail(string(out)))
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + dir, "-c", "max_connections=200", "-c", "shared_buffers=128MB"}
	if !durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig belongs to the thread that started the child: keep this
		// goroutine on its thread until the server exits, so the server gets
		// SIGQUIT (immediate shutdown) if the test binary dies.
		runtime.LockOSThread()
		cmd := exec.Command(postgres, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		c.cmd = cmd
		started <- nil
		c.done <- cmd.Wait()
		logFile.Close()
	}()
	if err := <-started; err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := c.waitReady(30 * time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		_ = c.stop()
		return nil, fmt.Errorf("%w; server log: %s", err, tail(string(log)))
	}
	return c, nil
}

// waitReady connects until the server answers, the server exits or the
// timeout passes.
func (c *cluster) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.url)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		last = err
		select {
		case err := <-c.done:
			c.done <- err
			return fmt.Errorf("postgres exited at start: %v", err)
		case <-tick.C:
		}
	}
	return fmt.Errorf("postgres not ready after %s: %w", timeout, last)
}

// stop shuts the server down (fast mode: SIGINT) and removes its files.
func (c *cluster) stop() error {
	defer os.RemoveAll(c.dir)
	if c.cmd == nil || c.cmd.Process == nil {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
		return nil
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		return errors.New("postgres did not stop in 30 s; killed")
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}
