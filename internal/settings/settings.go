// Package settings fills a flag.FlagSet from the four places sovmesh reads
// configuration, in this order of precedence: command-line flags, SOVMESH_*
// environment variables, an optional config file, and the defaults the flags
// were registered with. A value that does not parse is an error that names
// where it came from; it never falls back to a default.
//
// The environment variable of flag "max-limit" is SOVMESH_MAX_LIMIT. The
// config file has one "name = value" per line (the flag's name), with blank
// lines and lines starting with # ignored; an unknown name is an error.
package settings

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// EnvPrefix starts every environment variable sovmesh reads.
const EnvPrefix = "SOVMESH_"

// ErrInvalid is wrapped by every error Load returns for a bad value.
var ErrInvalid = errors.New("invalid setting")

// EnvName returns the environment variable for a flag name.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load parses args into fs, then applies the environment (through getenv)
// and the config file to every flag the command line did not set. The config
// file is named by the flag configFlag (if fs has it) or its environment
// variable; empty means none.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string, configFlag string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", ErrInvalid, fs.Arg(0))
	}
	fromArgs := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { fromArgs[f.Name] = true })

	fromEnv := map[string]bool{}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || fromArgs[f.Name] {
			return
		}
		name := EnvName(f.Name)
		if v, ok := lookup(getenv, name); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%w: environment variable %s: %v", ErrInvalid, name, serr)
			}
			fromEnv[f.Name] = true
		}
	})
	if err != nil {
		return err
	}

	var path string
	if configFlag != "" {
		if f := fs.Lookup(configFlag); f != nil {
			path = f.Value.String()
		}
	}
	if path == "" {
		return nil
	}
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: config file: %v", ErrInvalid, err)
	}
	defer file.Close()
	values, err := parseFile(file)
	if err != nil {
		return fmt.Errorf("%w: config file %s: %v", ErrInvalid, path, err)
	}
	for _, kv := range values {
		f := fs.Lookup(kv.name)
		if f == nil || kv.name == configFlag {
			return fmt.Errorf("%w: config file %s line %d: unknown setting %q", ErrInvalid, path, kv.line, kv.name)
		}
		if fromArgs[kv.name] || fromEnv[kv.name] {
			continue
		}
		if err := fs.Set(kv.name, kv.value); err != nil {
			return fmt.Errorf("%w: config file %s line %d: %s: %v", ErrInvalid, path, kv.line, kv.name, err)
		}
	}
	return nil
}

// lookup treats an empty variable as unset, so SOVMESH_X= does not override
// the config file with an empty value.
func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	if v != "" {
		return v, true
	}
	return "", false
}

type keyValue struct {
	name, value string
	line        int
}

// parseFile reads "name = value" lines.
func parseFile(r io.Reader) ([]keyValue, error) {
	var out []keyValue
	sc := bufio.NewScanner(r)
	seen := map[string]int{}
	n := 1
	for ; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want name = value", n)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if name == "" {
			return nil, fmt.Errorf("line %d: empty name", n)
		}
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		if prev, dup := seen[name]; dup {
			return nil, fmt.Errorf("line %d: %s already set on line %d", n, name, prev)
		}
		seen[name] = n
		out = append(out, keyValue{name, value, n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n, err)
	}
	return out, nil
}
