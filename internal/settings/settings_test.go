package settings

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type vals struct {
	listen string
	limit  int
	wait   time.Duration
	on     bool
	config string
}

func newFlags(v *vals) *flag.FlagSet {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	fs.StringVar(&v.listen, "listen", "127.0.0.1:7447", "")
	fs.IntVar(&v.limit, "max-limit", 500, "")
	fs.DurationVar(&v.wait, "wait", time.Second, "")
	fs.BoolVar(&v.on, "on", false, "")
	fs.StringVar(&v.config, "config", "", "")
	return fs
}

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "x.conf")
	if err := os.WriteFile(conf, []byte("# comment\nlisten = 0.0.0.0:1\nmax-limit=7\nwait = \"3s\"\n\non = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want vals
	}{
		{"defaults", nil, nil, vals{"127.0.0.1:7447", 500, time.Second, false, ""}},
		{"file", []string{"-config", conf}, nil, vals{"0.0.0.0:1", 7, 3 * time.Second, true, conf}},
		{"env over file", []string{"-config", conf}, map[string]string{"SOVMESH_MAX_LIMIT": "9"}, vals{"0.0.0.0:1", 9, 3 * time.Second, true, conf}},
		{"flag over env", []string{"-max-limit", "11"}, map[string]string{"SOVMESH_MAX_LIMIT": "9"}, vals{"127.0.0.1:7447", 11, time.Second, false, ""}},
		{"config from env", nil, map[string]string{"SOVMESH_CONFIG": conf, "SOVMESH_LISTEN": "1.2.3.4:5"}, vals{"1.2.3.4:5", 7, 3 * time.Second, true, conf}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v vals
			fs := newFlags(&v)
			if err := Load(fs, tc.args, func(k string) string { return tc.env[k] }, "config"); err != nil {
				t.Fatalf("load: %v", err)
			}
			if v != tc.want {
				t.Fatalf("got %+v, want %+v", v, tc.want)
			}
		})
	}
}

func TestLoadErrorsNameTheSource(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".conf")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string
		wantMsg string
	}{
		{"bad env int", nil, map[string]string{"SOVMESH_MAX_LIMIT": "lots"}, "", "SOVMESH_MAX_LIMIT"},
		{"bad env duration", nil, map[string]string{"SOVMESH_WAIT": "5"}, "", "SOVMESH_WAIT"},
		{"bad file value", nil, nil, "max-limit = -x\n", "line 1: max-limit"},
		{"unknown file key", nil, nil, "lisen = x\n", `unknown setting "lisen"`},
		{"malformed line", nil, nil, "listen\n", "want name = value"},
		{"duplicate key", nil, nil, "on = true\non = false\n", "already set"},
		{"stray argument", []string{"extra"}, nil, "", "unexpected argument"},
		{"missing file", []string{"-config", "/nonexistent/x.conf"}, nil, "", "config file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v vals
			fs := newFlags(&v)
			args := tc.args
			if tc.file != "" {
				args = append(args, "-config", write(tc.file))
			}
			err := Load(fs, args, func(k string) string { return tc.env[k] }, "config")
			if err == nil {
				t.Fatal("expected an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error %q does not mention %q", err, tc.wantMsg)
			}
		})
	}
}
