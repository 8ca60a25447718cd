package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sovmesh/sovmesh/internal/settings"
)

// command is one of agentd's commands: what runs it and what its help says.
type command struct {
	name string
	run  func(context.Context, *env) error
	// forms are the command's forms with their arguments, each with what
	// it does when that differs by form.
	forms []form
	// about says what it does; example is one command line.
	about, example string
	// flags are the flags it reads, besides commonFlags.
	flags []string
}

// form is one way to call a command; about may run over lines ("\n").
type form struct{ args, about string }

// commonFlags are read by every command.
var commonFlags = []string{"config", "data", "relay", "log-level", "log-format", "key-logn"}

// Flag groups several commands read.
var (
	walletFlags = []string{"mint", "budget-per-day", "budget-per-counterparty", "budget-owner", "budget-kind", "reclaim-grace", "relay-topup", "nip60"}
	buyerFlags  = []string{"listen", "dial-timeout", "replicas", "min-providers", "duration", "max-storage-price", "max-bandwidth-price", "max-inference-price",
		"stall-timeout", "first-chunk-timeout", "private-bids", "trust-seeds", "streams"}
	nwcFlags = []string{"nwc-file", "nwc-topup-below", "nwc-topup-amount"}
	lanFlags = []string{"mdns", "mdns-service"}
)

func flags(groups ...[]string) []string { return slices.Concat(groups...) }

// commands lists agentd's commands, in the order help shows them.
var commands = []command{
	{name: "provide", run: cmdProvide, forms: []form{{"provide", ""}},
		about:   "sell storage, bandwidth and/or inference (daemon)",
		example: "agentd provide --storage-size 10GiB --bandwidth-price 1000",
		flags: flags(walletFlags, nwcFlags, lanFlags, []string{"offline-limit", "settle-interval", "payment-window", "refund-lock", "listen", "storage-size", "storage-price", "storage-upload-price", "storage-retrieval-price", "storage-retention",
			"blossom", "bandwidth-price", "bandwidth-capacity", "allow-private-targets", "inference-url", "inference-models", "inference-price-in", "inference-price-out", "routstr",
			"price-floor", "price-ceiling", "price-interval", "geohash", "tier", "dashboard"})},
	{name: "serve", run: cmdServe, forms: []form{{"serve", ""}},
		about:   "local OpenAI endpoint and SOCKS5 proxy bought on the market (daemon)",
		example: "agentd serve --openai 127.0.0.1:8088 --socks 127.0.0.1:1080",
		flags:   flags(walletFlags, buyerFlags, nwcFlags, lanFlags, []string{"openai", "socks", "auto-repair", "bid", "inference-sources", "allow-private-targets"})},
	{name: "mcp", run: cmdMCP, forms: []form{{"mcp", "serve the market as MCP tools on stdin/stdout, or with --mcp-listen\nover streamable HTTP on loopback (bearer key: --mcp-key-file or SOVMESH_MCP_KEY)"}},
		about:   "serve the agent's market to AI agents over the Model Context Protocol (daemon)",
		example: "agentd mcp --mcp-listen 127.0.0.1:8089 --mcp-key-file mcp.key",
		flags:   flags(walletFlags, buyerFlags, nwcFlags, lanFlags, []string{"mcp-listen", "mcp-key-file", "bid", "inference-sources", "allow-private-targets"})},
	{name: "store", run: cmdStore, forms: []form{
		{"store put FILE", "store a file (encrypted, erasure-coded, paid); resumes\nan unfinished put of the same file (--resume, --abort)"},
		{"store quote FILE", "what storing a file costs, per provider and in total"},
		{"store get ROOT [-o FILE]", "fetch a stored (or granted) file"},
		{"store audit ROOT", "challenge the providers with a storage proof"},
		{"store rm ROOT", "delete a file from its providers and forget its key"},
		{"store repair ROOT", "rebuild a lost provider's shards on a new provider"},
		{"store ls", "list our files (SafeBox entries, local cache) and unfinished puts"},
		{"store grant ROOT PUBKEY", "share one file's key with another pubkey"}},
		about:   "store files with providers on the market and read them back",
		example: "agentd store put photo.jpg --replicas 1",
		flags:   flags(walletFlags, buyerFlags, lanFlags, []string{"o", "resume", "abort", "bid"})},
	{name: "wallet", run: cmdWallet, forms: []form{
		{"wallet balance|receive TOKEN|send SATS|deposit SATS|withdraw BOLT11|settle|mint-moved OLD NEW|restore", ""},
		{"wallet nwc [connections|revoke CLIENT]", "serve the wallet over NIP-47 with a new connection; list or revoke connections"},
		{"wallet fund-nwc SATS", "fund the wallet from the owner's Lightning wallet over NWC (--nwc-file or SOVMESH_NWC)"},
		{"wallet withdraw-nwc SATS", "pay SATS to the owner's Lightning wallet over NWC"},
		{"wallet rebalance SATS FROM TO", "move ecash from mint FROM to mint TO over Lightning"}},
		about:   "the agent's Cashu wallet",
		example: "agentd wallet deposit 5000",
		flags:   flags(walletFlags, []string{"offline-limit", "nwc-file"})},
	{name: "earnings", run: cmdEarnings, forms: []form{{"earnings", "provider earnings (--since)"}},
		about:   "sum what the provider earned, by resource",
		example: "agentd earnings --since 168h",
		flags:   []string{"mint", "since"}},
	{name: "status", run: cmdStatus, forms: []form{{"status", "sessions, balance, providers"}},
		about:   "show the key, balance, ledger, recent sessions and providers seen",
		example: "agentd status",
		flags:   []string{"mint", "budget-per-day", "offline-limit"}},
	{name: "keys", run: cmdKeys, forms: []form{{"keys show|split|return-share|recover|passphrase", ""}},
		about:   "show the key, split it among contacts, return a share, recover it, change its passphrase",
		example: "agentd keys split --contacts A,B,C,D,E -k 3",
		flags:   []string{"mint", "contacts", "k", "owner", "to", "wait"}},
	{name: "manifest", run: cmdManifest, forms: []form{
		{"manifest sign DIR [LABEL]", "sign a folder's files (SHA-256) with the agent's key, for carrying by hand"},
		{"manifest verify DIR", "check a folder against its signed MANIFEST.json"}},
		about:   "sign and verify folders carried by hand (no relay or mint needed)",
		example: "agentd manifest sign ./release-1.0 \"release 1.0\""},
	{name: "bundle", run: cmdBundle, forms: []form{
		{"bundle export ROOT DIR", "write this node's chunks of ROOT to a signed folder (sneaker-net)"},
		{"bundle import DIR [SIGNER]", "check a chunk bundle (signed by us or SIGNER) and store its chunks"},
		{"bundle moved ROOT FROM TO", "name provider TO in FROM's place once TO holds FROM's chunks"}},
		about:   "carry a stored file's chunks to another node by hand (no relay or mint needed)",
		example: "agentd bundle export 3f2a... /media/usb/file-bundle"},
	{name: "budget", run: cmdBudget, forms: []form{
		{"budget grant AGENT", "sign a spending authorization for an agent key with --owner-key"},
		{"budget revoke AGENT", "revoke the owner's authorizations for an agent key"}},
		about: "an owner signs an agent key's authorization to spend (--per-day, --per-counterparty, until --expires), " +
			"or revokes it, with the owner's secret key read from the --owner-key file (mode 0600), and publishes it to the relays",
		example: "agentd budget grant npub1... --owner-key owner.nsec --per-day 5000 --per-counterparty 1000",
		flags:   []string{"owner-key", "per-day", "per-counterparty", "expires", "budget-kind"}},
}

// findCommand returns the command named name.
func findCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// printCommandList writes the commands, one usage line each.
func printCommandList(out io.Writer) {
	fmt.Fprintln(out, "Commands:")
	for _, c := range commands {
		printForms(out, c, "  ", "")
	}
}

// printForms writes a command's forms, one a line, each with what it does.
// Each line starts with indent, and each form with prefix.
func printForms(out io.Writer, c command, indent, prefix string) {
	for _, f := range c.forms {
		about := f.about
		if about == "" && len(c.forms) == 1 && !strings.Contains(f.args, "|") {
			about = c.about
		}
		if about == "" {
			fmt.Fprintln(out, indent+prefix+f.args)
			continue
		}
		for i, line := range strings.Split(about, "\n") {
			args := prefix + f.args
			if i > 0 {
				args = ""
			}
			fmt.Fprintf(out, "%s%-*s %s\n", indent, 28+len(prefix), args, line)
		}
	}
}

// usage writes agentd's help: the commands and the common flags.
func usage(out io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(out, "Usage: agentd COMMAND [flags] [args]\n\n")
	printCommandList(out)
	fmt.Fprint(out, `
"agentd help COMMAND" (or "agentd COMMAND --help") shows what a command does and its flags.

Every flag can also be set as SOVMESH_<NAME> (for example SOVMESH_RELAY) or as a
"name = value" line in the file named by --config. The key passphrase comes from
SOVMESH_PASSPHRASE or a prompt, never from a flag.

Flags of every command:
`)
	printFlags(out, fs, commonFlags)
}

// commandHelp writes one command's help: its forms, what it does, an
// example and its flags.
func commandHelp(out io.Writer, fs *flag.FlagSet, c command) {
	fmt.Fprintf(out, "Usage: agentd %s [flags]\n\n%s.\n\n", c.name, upperFirst(c.about))
	printForms(out, c, "  ", "agentd ")
	fmt.Fprintf(out, "\nExample:\n  %s\n", c.example)
	if len(c.flags) > 0 {
		fmt.Fprintln(out, "\nFlags:")
		printFlags(out, fs, c.flags)
	}
	fmt.Fprintln(out, "\nFlags of every command:")
	printFlags(out, fs, commonFlags)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// printFlags writes the named flags, sorted, each with its variable and
// default.
func printFlags(out io.Writer, fs *flag.FlagSet, names []string) {
	names = slices.Clone(names)
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		kind, text := flag.UnquoteUsage(f)
		if kind == "value" {
			kind = "string"
		}
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
			def = fmt.Sprintf(", default %s", f.DefValue)
		}
		fmt.Fprintf(out, "%s\n    \t%s (%s%s)\n", line, text, settings.EnvName(f.Name), def)
	}
}

// helpTopic reports whether args ask for help ("help [COMMAND]", "-h",
// "--help", "COMMAND --help") and for which command ("" for agentd's).
func helpTopic(fs *flag.FlagSet, args []string) (topic string, asked bool) {
	flagArgs, pos := splitArgs(fs, args)
	if len(pos) > 0 && pos[0] == "help" {
		if len(pos) > 1 {
			return pos[1], true
		}
		return "", true
	}
	for _, a := range flagArgs {
		if a == "-h" || a == "--h" || a == "-help" || a == "--help" {
			if len(pos) > 0 {
				return pos[0], true
			}
			return "", true
		}
	}
	return "", false
}

// help answers a help request: 0 and the help on stdout, or for an
// unknown command 2, one line saying so and the command list on stderr.
func help(stdout, stderr io.Writer, fs *flag.FlagSet, topic string) int {
	if topic == "" {
		usage(stdout, fs)
		return 0
	}
	c, ok := findCommand(topic)
	if !ok {
		unknownCommand(stderr, topic)
		return 2
	}
	commandHelp(stdout, fs, c)
	return 0
}

// unknownCommand says name is no command, then lists them.
func unknownCommand(out io.Writer, name string) {
	fmt.Fprintf(out, "agentd: unknown command %q\n", name)
	printCommandList(out)
}
