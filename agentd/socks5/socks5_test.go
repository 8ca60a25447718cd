package socks5

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
)

func TestReadRequest(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
		err  bool
	}{
		{"ipv4", []byte{5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80}, "127.0.0.1:80", false},
		{"domain", append([]byte{5, 1, 0, 5, 1, 0, 3, 11}, append([]byte("example.com"), 1, 187)...), "example.com:443", false},
		{"ipv6", append([]byte{5, 1, 0, 5, 1, 0, 4}, append(net.ParseIP("::1").To16(), 0, 22)...), "[::1]:22", false},
		{"socks4", []byte{4, 1, 0}, "", true},
		{"auth only", []byte{5, 1, 2}, "", true},
		{"bind", []byte{5, 1, 0, 5, 2, 0, 1, 1, 2, 3, 4, 0, 80}, "", true},
		{"domain with brackets", append([]byte{5, 1, 0, 5, 1, 0, 3, 2}, '[', ':', 0, 80), "", true},
		{"bad atyp", []byte{5, 1, 0, 5, 1, 0, 9}, "", true},
		{"port 0", []byte{5, 1, 0, 5, 1, 0, 1, 1, 2, 3, 4, 0, 0}, "", true},
		{"truncated", []byte{5, 1, 0, 5, 1, 0, 1, 1}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			got, err := ReadRequest(bytes.NewReader(tc.in), &out)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte{5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80})
	f.Add([]byte{5, 1, 0, 5, 1, 0, 3, 1, 'a', 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ReadRequest(bytes.NewReader(in), io.Discard)
		if err == nil {
			if _, _, err := net.SplitHostPort(got); err != nil {
				t.Fatalf("target %q: %v", got, err)
			}
		}
	})
}

func TestServerRelays(t *testing.T) {
	echo, _ := net.Listen("tcp", "127.0.0.1:0")
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	s := &Server{Dial: func(ctx context.Context, target string) (net.Conn, error) {
		if target == "refused.example:1" {
			return nil, errors.New("no")
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", target)
	}}
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ea := echo.Addr().(*net.TCPAddr)
	c.Write([]byte{5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, byte(ea.Port >> 8), byte(ea.Port)})
	var rep [12]byte
	if _, err := io.ReadFull(c, rep[:12]); err != nil || rep[3] != 0 {
		t.Fatalf("reply %v %v", rep, err)
	}
	c.Write([]byte("ping"))
	var b [4]byte
	if _, err := io.ReadFull(c, b[:]); err != nil || string(b[:]) != "ping" {
		t.Fatalf("%q %v", b, err)
	}
	// A refused target gets a failure reply.
	c2, _ := net.Dial("tcp", addr.String())
	defer c2.Close()
	c2.Write(append([]byte{5, 1, 0, 5, 1, 0, 3, 15}, append([]byte("refused.example"), 0, 1)...))
	var r2 [12]byte
	io.ReadFull(c2, r2[:12])
	if r2[3] != repHostUnrch {
		t.Fatalf("refused target reply %v", r2)
	}
}
