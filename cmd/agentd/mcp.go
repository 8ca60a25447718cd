package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sovmesh/sovmesh/agentd/mcpserver"
	"github.com/sovmesh/sovmesh/internal/httpserve"
)

// mcpKeyEnv holds the bearer key of "mcp --mcp-listen" (a secret: env or
// file only, never a flag value).
const mcpKeyEnv = "SOVMESH_MCP_KEY"

// ErrMCPKey means the MCP bearer key is missing or cannot be used.
var ErrMCPKey = errors.New("mcp key")

// cmdMCP serves the agent's market as MCP tools (agentd/mcpserver): over
// stdin/stdout, or with --mcp-listen over streamable HTTP on loopback to
// clients that send the bearer key.
func cmdMCP(ctx context.Context, e *env) error {
	if len(e.args) != 0 {
		return usageError("mcp takes no arguments: agentd mcp [--mcp-listen 127.0.0.1:PORT --mcp-key-file FILE]")
	}
	var key string
	if e.cfg.mcpListen != "" {
		if !loopbackAddr(e.cfg.mcpListen) {
			return usageError(fmt.Sprintf("mcp-listen %q: want a loopback address (127.0.0.1:PORT or [::1]:PORT)", e.cfg.mcpListen))
		}
		var err error
		if key, err = mcpKey(&e.cfg); err != nil {
			return err
		}
	}
	n, b, stop, err := startBuyer(ctx, e)
	if err != nil {
		return err
	}
	defer stop()
	tools := mcpserver.New(n, b, e.cfg.node.Logger)
	defer tools.Close()
	srv := tools.MCP("agentd")
	if e.cfg.mcpListen == "" {
		fmt.Fprintf(e.stderr, "agentd: MCP on stdin/stdout as %s\n", n.Key.Pubkey)
		err := srv.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(e.stdin), Writer: nopWriteCloser{e.stdout}})
		if ctx.Err() != nil || errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	ln, err := net.Listen("tcp", e.cfg.mcpListen)
	if err != nil {
		return fmt.Errorf("mcp-listen: %w", err)
	}
	hs := &http.Server{Handler: mcpserver.HTTPHandler(srv, key), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(e.stderr, "agentd: MCP (streamable HTTP) on http://%s/ as %s\n", ln.Addr(), n.Key.Pubkey)
	return httpserve.Serve(ctx, ln, hs, 10*time.Second)
}

// mcpKey reads the bearer key: --mcp-key-file (mode 0600) first, then
// SOVMESH_MCP_KEY. Errors name the source, never the key.
func mcpKey(c *config) (string, error) {
	if c.mcpKeyFile == "" {
		if c.mcpKey == "" {
			return "", fmt.Errorf("%w: --mcp-listen needs a bearer key: set --mcp-key-file FILE (mode 0600) or %s", ErrMCPKey, mcpKeyEnv)
		}
		return c.mcpKey, nil
	}
	fi, err := os.Stat(c.mcpKeyFile)
	if err != nil {
		return "", fmt.Errorf("%w: mcp-key-file: %w", ErrMCPKey, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%w: mcp-key-file %s: mode %04o, readable by group or others (it holds a secret): chmod 600 it", ErrMCPKey, c.mcpKeyFile, perm)
	}
	b, err := os.ReadFile(c.mcpKeyFile)
	if err != nil {
		return "", fmt.Errorf("%w: mcp-key-file: %w", ErrMCPKey, err)
	}
	key := strings.TrimSpace(string(b))
	if len(key) < 16 {
		return "", fmt.Errorf("%w: mcp-key-file %s: want a key of at least 16 characters", ErrMCPKey, c.mcpKeyFile)
	}
	return key, nil
}

// loopbackAddr reports whether addr ("host:port") names a loopback IP or
// localhost.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// nopWriteCloser is stdout for the MCP transport: the process closes it.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
