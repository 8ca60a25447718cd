package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/keystore"
	"github.com/sovmesh/sovmesh/internal/settings"
)

// runCLI runs agentd in process with env as its environment.
func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, envOf(env), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

// helpFlags returns the flags a help text lists (its lines "  --name ...").
func helpFlags(help string) []string {
	var names []string
	for _, line := range strings.Split(help, "\n") {
		if rest, ok := strings.CutPrefix(line, "  --"); ok {
			name, _, _ := strings.Cut(rest, " ")
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// TestHelp: "agentd help COMMAND" and "agentd COMMAND --help" say what the
// command does, give an example and list exactly its flags; an unknown
// command is one line saying so, then the command list.
func TestHelp(t *testing.T) {
	for _, c := range commands {
		want := slices.Concat(c.flags, commonFlags)
		slices.Sort(want)
		want = slices.Compact(want)
		for _, args := range [][]string{{"help", c.name}, {c.name, "--help"}, {c.name, "-h"}, {c.name, "grant", "-help"}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				out, errs, code := runCLI(t, nil, args...)
				if code != 0 || errs != "" {
					t.Fatalf("exit %d, stderr %q", code, errs)
				}
				if !strings.HasPrefix(out, "Usage: agentd "+c.name+" ") || !strings.Contains(out, "\nExample:\n  agentd "+c.name) {
					t.Fatalf("no usage or example:\n%s", out)
				}
				if got := helpFlags(out); !slices.Equal(got, want) {
					t.Fatalf("flags listed %v, want %v", got, want)
				}
				for _, f := range want {
					if !strings.Contains(out, settings.EnvName(f)) {
						t.Fatalf("%s not named", settings.EnvName(f))
					}
				}
			})
		}
	}
	t.Run("store put buys with open bids", func(t *testing.T) {
		out, _, code := runCLI(t, nil, "help", "store")
		if code != 0 || !slices.Contains(helpFlags(out), "bid") {
			t.Fatalf("agentd help store (exit %d) does not list --bid:\n%s", code, out)
		}
	})
	t.Run("every flag belongs to a command", func(t *testing.T) {
		c := defaultConfig()
		fs := newFlagSet(&c)
		used := slices.Clone(commonFlags)
		for _, cmd := range commands {
			used = append(used, cmd.flags...)
		}
		for _, name := range used {
			if fs.Lookup(name) == nil {
				t.Errorf("command lists unknown flag %q", name)
			}
		}
		for name := range flagNames(fs) {
			if !slices.Contains(used, name) {
				t.Errorf("flag --%s is read by no command", name)
			}
		}
	})
	for _, args := range [][]string{{"help", "bogus"}, {"bogus"}, {"bogus", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, errs, code := runCLI(t, nil, args...)
			first, rest, _ := strings.Cut(errs, "\n")
			if code != 2 || out != "" || first != `agentd: unknown command "bogus"` || !strings.HasPrefix(rest, "Commands:\n") {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
			}
			for _, c := range commands {
				if !strings.Contains(rest, "\n  "+c.name) {
					t.Fatalf("command list lacks %s:\n%s", c.name, rest)
				}
			}
		})
	}
}

// TestBadValues: a value agentd does not take, from a flag, the
// environment or the config file, is one line naming the flag, its
// variable and what it accepts (exit 2).
func TestBadValues(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "agentd.conf")
	if err := os.WriteFile(conf, []byte("# x\nreplicas = many\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		flag string // named in the line
		want string // also in the line
	}{
		{"int flag", []string{"status", "--replicas", "x"}, nil, "replicas", "from the command line: want a whole number from 1 to 32"},
		{"int out of range from env", []string{"status"}, map[string]string{"SOVMESH_REPLICAS": "0"}, "replicas", "from the environment: want a whole number from 1 to 32"},
		{"config file", []string{"status", "--config", conf}, nil, "replicas", "from config file " + conf + " line 2: want a whole number"},
		{"enum", []string{"status", "--tier", "trunk"}, nil, "tier", "want root, branch or leaf"},
		{"bid mode", []string{"serve", "--bid", "any"}, nil, "bid", "want targeted or open"},
		{"payment window over a match's hour", []string{"provide", "--payment-window", "2h"}, nil, "payment-window", "want a positive duration of at most 1h"},
		{"relay URL", []string{"status", "--relay", "http://127.0.0.1:1"}, nil, "relay", "want comma-separated ws:// or wss:// URLs"},
		{"mint URL from env", []string{"status"}, map[string]string{"SOVMESH_MINT": "ftp://mint"}, "mint", "want comma-separated http:// or https:// mint URLs"},
		{"budget owner", []string{"status", "--budget-owner", "npub-not-hex"}, nil, "budget-owner", "want comma-separated hex pubkeys"},
		{"duration", []string{"status", "--expires", "soon"}, nil, "expires", "want a positive duration"},
		{"negative duration", []string{"status", "--expires=-1h"}, nil, "expires", "want a positive duration"},
		{"negative dial timeout", []string{"status", "--dial-timeout=-1s"}, nil, "dial-timeout", "want 0 (libp2p's) or a positive duration"},
		{"bool", []string{"status", "--resume=maybe"}, nil, "resume", "want true or false"},
		{"uint", []string{"status", "--per-day", "-5"}, nil, "per-day", "want sats per UTC day"},
		{"func flag", []string{"status", "--storage-retrieval-price", "cheap"}, nil, "storage-retrieval-price", "want msat per GiB"},
		{"log level", []string{"status"}, map[string]string{"SOVMESH_LOG_LEVEL": "loud"}, "log-level", "want debug, info, warn or error"},
		{"shares", []string{"keys", "show", "-k", "1"}, nil, "k", "want a whole number of 2 or more"},
		{"size", []string{"provide", "--storage-size", "lots"}, nil, "storage-size", "want a size such as"},
		{"blossom without storage", []string{"provide", "--blossom", "127.0.0.1:3000"}, nil, "blossom", "want host:port, with --storage-size"},
		{"blossom address", []string{"provide", "--storage-size", "1GiB", "--blossom", "3000"}, nil, "blossom", "want host:port"},
		{"dashboard address", []string{"provide", "--dashboard", "8090"}, nil, "dashboard", "want host:port such as 127.0.0.1:8090"},
		{"budget kind", []string{"status", "--budget-kind", "1"}, nil, "budget-kind", "want an addressable kind"},
		{"key logn", []string{"status", "--key-logn", "23"}, nil, "key-logn", "want a whole number from 1 to 22"},
		{"key logn from env", []string{"status"}, map[string]string{"SOVMESH_KEY_LOGN": "0"}, "key-logn", "want a whole number from 1 to 22"},
		{"missing value", []string{"status", "--replicas"}, nil, "replicas", "needs a value: want a whole number from 1 to 32"},
		{"unknown flag", []string{"status", "--replica", "2"}, nil, "replica", "unknown flag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"SOVMESH_DATA": t.TempDir()}
			for k, v := range tc.env {
				env[k] = v
			}
			out, errs, code := runCLI(t, env, tc.args...)
			if code != 2 || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
			}
			line, rest, _ := strings.Cut(errs, "\n")
			if rest != "" {
				t.Fatalf("more than one line:\n%s", errs)
			}
			if !strings.HasPrefix(line, "agentd: ") || strings.HasPrefix(line, "agentd: agentd:") || !strings.Contains(line, tc.want) {
				t.Fatalf("%q does not say %q", line, tc.want)
			}
			if !strings.Contains(line, "--"+tc.flag) {
				t.Fatalf("%q does not name --%s", line, tc.flag)
			}
			if tc.want != "unknown flag" && !strings.Contains(line, settings.EnvName(tc.flag)) {
				t.Fatalf("%q does not name %s", line, settings.EnvName(tc.flag))
			}
		})
	}
}

// TestOneLine: errors print once per prefix, on one line.
func TestOneLine(t *testing.T) {
	tests := []struct{ err, want string }{
		{"agentd: agentd: relay \"x\": want ws://", "relay \"x\": want ws://"},
		{"store: store put: buyer: too few providers", "store put: buyer: too few providers"},
		{"safebox: safebox: publish: no relay", "safebox: publish: no relay"},
		{"keys recover: not enough shares", "keys recover: not enough shares"},
		{"a\nb", "a; b"},
		{"wallet: 12: 12 sats", "wallet: 12: 12 sats"},
	}
	for _, tc := range tests {
		if got := oneLine(errors.New(tc.err)); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestBudgetGrantRevoke: an owner grants an agent a daily budget with its
// key file, the agent spends within it and is refused beyond it, the owner
// revokes and the agent can spend nothing more; against the real relay and
// dev mint.
func TestBudgetGrantRevoke(t *testing.T) {
	net := agentdtest.Start(t)
	dir := t.TempDir()
	ownerSK := nostr.GeneratePrivateKey()
	owner, _ := nostr.GetPublicKey(ownerSK)
	nsec, _ := nip19.EncodePrivateKey(ownerSK)
	keyFile := filepath.Join(dir, "owner.nsec")
	if err := os.WriteFile(keyFile, []byte(nsec+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	loose := filepath.Join(dir, "loose.nsec")
	if err := os.WriteFile(loose, []byte(nsec), 0o644); err != nil {
		t.Fatal(err)
	}
	// The agent's key at a low scrypt cost: every step opens it.
	agentData := filepath.Join(dir, "agent")
	k, err := keystore.Import(filepath.Join(agentData, "keys"), nostr.GeneratePrivateKey(), keystore.Options{Passphrase: "pw", LogN: 4})
	if err != nil {
		t.Fatal(err)
	}
	agent := k.Pubkey
	agentEnv := map[string]string{
		"SOVMESH_DATA": agentData, "SOVMESH_RELAY": net.Relay, "SOVMESH_MINT": net.Mint.URL(),
		"SOVMESH_BUDGET_OWNER": owner, "SOVMESH_PASSPHRASE": "pw",
	}
	ownerEnv := map[string]string{"SOVMESH_RELAY": net.Relay} // the owner needs no data directory
	npub, _ := nip19.EncodePublicKey(agent)
	if _, errs, code := runCLI(t, agentEnv, "wallet", "deposit", "200"); code != 0 {
		t.Fatalf("deposit: %s", errs)
	}
	steps := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		inStderr string
	}{
		{"no authorization yet", agentEnv, []string{"wallet", "send", "10"}, 1, "no valid spending authorization"},
		{"key file readable by others", ownerEnv, []string{"budget", "grant", agent, "--owner-key", loose, "--per-day", "50"}, 1, "mode 0644, want 0600"},
		{"grant needs --per-day", ownerEnv, []string{"budget", "grant", agent, "--owner-key", keyFile}, 2, "--per-day SATS (SOVMESH_PER_DAY)"},
		{"grant", ownerEnv, []string{"budget", "grant", npub, "--owner-key", keyFile, "--per-day", "50", "--per-counterparty", "40"}, 0, "may spend 50 sats per UTC day"},
		{"within the grant", agentEnv, []string{"wallet", "send", "10"}, 0, "token of 10 sats"},
		{"over the grant", agentEnv, []string{"wallet", "send", "45"}, 1, "over the spending budget"},
		{"revoke", ownerEnv, []string{"budget", "revoke", agent, "--owner-key", keyFile}, 0, "revoked the authorizations"},
		{"after revocation", agentEnv, []string{"wallet", "send", "10"}, 1, "no valid spending authorization"},
	}
	for _, s := range steps {
		before, _, _ := runCLI(t, agentEnv, "wallet", "balance")
		_, errs, code := runCLI(t, s.env, s.args...)
		if code != s.code || !strings.Contains(errs, s.inStderr) {
			t.Fatalf("%s: exit %d (want %d), stderr %q, want %q", s.name, code, s.code, errs, s.inStderr)
		}
		if strings.Contains(errs, nsec) || strings.Contains(errs, ownerSK) {
			t.Fatalf("%s: the owner's key in the output", s.name)
		}
		after, _, _ := runCLI(t, agentEnv, "wallet", "balance")
		if s.code != 0 && strings.Fields(before)[0] != strings.Fields(after)[0] {
			t.Fatalf("%s: a refused payment moved money: %s -> %s", s.name, before, after)
		}
	}
}

// flagNames returns the names of fs's flags.
func flagNames(fs *flag.FlagSet) map[string]bool {
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}

// TestOneShotListen: status, wallet, store ls and keys open no listener;
// a store command that dials providers listens on loopback only, unless
// --listen says otherwise.
func TestOneShotListen(t *testing.T) {
	net := agentdtest.Start(t)
	data := filepath.Join(t.TempDir(), "agent")
	if _, err := keystore.Import(filepath.Join(data, "keys"), nostr.GeneratePrivateKey(), keystore.Options{Passphrase: "pw", LogN: 4}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SOVMESH_DATA": data, "SOVMESH_RELAY": net.Relay, "SOVMESH_MINT": net.Mint.URL(), "SOVMESH_PASSPHRASE": "pw"}
	missing := strings.Repeat("ab", 32)
	tests := []struct {
		args   []string
		listen string // "" = no host started
	}{
		{[]string{"status"}, ""},
		{[]string{"wallet", "balance"}, ""},
		{[]string{"wallet", "settle"}, ""},
		{[]string{"store", "ls"}, ""},
		{[]string{"keys", "show"}, ""},
		{[]string{"earnings"}, ""},
		{[]string{"store", "get", missing, "-o", filepath.Join(t.TempDir(), "x")}, "/ip4/127.0.0.1/"},
		{[]string{"store", "audit", missing}, "/ip4/127.0.0.1/"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args[:min(2, len(tc.args))], " "), func(t *testing.T) {
			_, errs, _ := runCLI(t, env, tc.args...)
			// Expected outcomes (nothing to settle, no such file) are no warnings.
			if strings.Contains(errs, "level=WARN") || strings.Contains(errs, "level=ERROR") {
				t.Fatalf("logged as a failure: %s", errs)
			}
			_, attrs, started := strings.Cut(errs, "libp2p host started")
			if tc.listen == "" {
				if started {
					t.Fatalf("a host was started: %s", errs)
				}
				return
			}
			attrs, _, _ = strings.Cut(attrs, "\n")
			if !started || !strings.Contains(attrs, tc.listen) || strings.Contains(attrs, "0.0.0.0") {
				t.Fatalf("listens on %q, want only %s…", attrs, tc.listen)
			}
		})
	}
}
