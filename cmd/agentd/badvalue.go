package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/sovmesh/sovmesh/internal/settings"
)

// badSetting is a flag's value that agentd does not accept, from the
// command line, the environment or the config file: one line naming the
// flag, its variable, the value, where it came from and what it accepts.
type badSetting struct {
	name, value, from, want string
}

// Error implements error.
func (b *badSetting) Error() string {
	return fmt.Sprintf("bad --%s (%s) %q from %s: want %s", b.name, settings.EnvName(b.name), b.value, b.from, b.want)
}

// wants says what a flag accepts, where its type does not say enough.
var wants = map[string]string{
	"relay":                   "comma-separated ws:// or wss:// URLs",
	"blossom":                 "host:port, with --storage-size",
	"routstr":                 "host:port, with --inference-url",
	"mint":                    "comma-separated http:// or https:// mint URLs",
	"budget-owner":            "comma-separated hex pubkeys",
	"replicas":                "a whole number from 1 to 32",
	"min-providers":           "0 (the default) to --replicas",
	"auto-repair":             "0 (off) or a duration of at least 1m",
	"reclaim-grace":           "a positive duration such as 10m",
	"dial-timeout":            "0 (libp2p's) or a positive duration such as 5s",
	"refund-lock":             "a duration of at least 1m, such as 720h",
	"k":                       "a whole number of 2 or more",
	"price-floor":             "a percent of the base price from 1 to 100",
	"price-ceiling":           "a percent of the base price of 100 or more",
	"tier":                    "root, branch or leaf",
	"bid":                     "targeted or open",
	"payment-window":          "a positive duration of at most 1h such as 2m",
	"inference-sources":       "market, routstr or all",
	"log-level":               "debug, info, warn or error",
	"log-format":              "text or json",
	"storage-size":            "a size such as 512MiB, 10GiB or 1TB",
	"storage-retrieval-price": "msat per GiB, a whole number of 0 or more",
	"per-day":                 "sats per UTC day, a whole number of 1 or more",
	"expires":                 "a positive duration such as 720h",
	"budget-kind":             "an addressable kind, 30000 to 39999",
	"data":                    "a directory path",
	"streams":                 "a whole number from 1 to 64",
	"key-logn":                "a whole number from 1 to 22",
	"nwc-topup-amount":        "sats, 1 or more when --nwc-topup-below is set, at most --budget-per-day",
	"dashboard":               "host:port such as 127.0.0.1:8090, or empty for none",
}

// want says what flag f accepts.
func want(f *flag.Flag) string {
	if w, ok := wants[f.Name]; ok {
		return w
	}
	switch kind, _ := flag.UnquoteUsage(f); kind {
	case "":
		return "true or false"
	case "int":
		return "a whole number"
	case "uint":
		return "a whole number of 0 or more"
	case "duration":
		return "a duration such as 90s, 10m or 720h"
	}
	return "a value"
}

// checkedValue wraps a flag's value: a value it refuses is recorded in
// bad (with the flag's name), so the caller can name the flag in one line.
type checkedValue struct {
	flag.Value
	name string
	bad  **badSetting
}

// Set implements flag.Value.
func (v *checkedValue) Set(s string) error {
	if err := v.Value.Set(s); err != nil {
		*v.bad = &badSetting{name: v.name, value: s}
		return err
	}
	return nil
}

// IsBoolFlag keeps boolean flags boolean.
func (v *checkedValue) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// checkValues wraps every flag of fs; *bad gets the last refused value.
func checkValues(fs *flag.FlagSet, bad **badSetting) {
	fs.VisitAll(func(f *flag.Flag) { f.Value = &checkedValue{Value: f.Value, name: f.Name, bad: bad} })
}

// sources tells where a flag's value came from.
type sources struct {
	args   map[string]bool
	getenv func(string) string
	config string
}

func newSources(flagArgs []string, getenv func(string) string, config string) sources {
	s := sources{args: map[string]bool{}, getenv: getenv, config: config}
	for _, a := range flagArgs {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		s.args[name] = true
	}
	return s
}

func (s sources) of(name string) string {
	switch {
	case s.args[name]:
		return "the command line"
	case s.getenv(settings.EnvName(name)) != "":
		return "the environment"
	case s.config != "":
		return "config file " + s.config
	}
	return "the defaults"
}

// loadError turns what settings.Load returned into one line naming the
// flag: a refused value (bad), an unknown flag, a flag without its value.
func loadError(fs *flag.FlagSet, err error, bad *badSetting, src sources) error {
	msg := err.Error()
	if bad != nil {
		f := fs.Lookup(bad.name)
		bad.want, bad.from = want(f), src.of(bad.name)
		if _, where, ok := strings.Cut(msg, "config file "); ok && strings.Contains(msg, " line ") && bad.from != "the command line" && bad.from != "the environment" {
			where, _, _ = strings.Cut(where, ": "+bad.name)
			bad.from = "config file " + where
		}
		return bad
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return fmt.Errorf("unknown flag --%s (agentd help COMMAND lists a command's flags)", strings.TrimLeft(name, "-"))
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		name = strings.TrimLeft(name, "-")
		if f := fs.Lookup(name); f != nil {
			return fmt.Errorf("--%s (%s) needs a value: want %s", name, settings.EnvName(name), want(f))
		}
	}
	return err
}

// oneLine is an error as agentd prints it: prefixes repeated by wrapping
// ("agentd: agentd: ", "store: store put: ") said once, on one line.
func oneLine(err error) string {
	parts := strings.Split(strings.ReplaceAll(err.Error(), "\n", "; "), ": ")
	var out []string
	for i, p := range parts {
		if i+1 < len(parts) && i < len(parts)-1 && (parts[i+1] == p || strings.HasPrefix(parts[i+1], p+" ")) && isPrefixWord(p) {
			continue
		}
		out = append(out, p)
	}
	if len(out) > 1 && out[0] == "agentd" {
		out = out[1:]
	}
	return strings.Join(out, ": ")
}

// isPrefixWord reports whether s looks like an error prefix (a package or
// command name: lower-case words), not a value.
func isPrefixWord(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != ' ' && r != '-' {
			return false
		}
	}
	return true
}

// errUsage reports whether err is a usage error (exit code 2).
func errUsage(err error) bool {
	var ue usageError
	var bs *badSetting
	return errors.As(err, &ue) || errors.As(err, &bs)
}
