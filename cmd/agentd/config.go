package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/buyer"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/internal/crashat"
	"github.com/sovmesh/sovmesh/internal/settings"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/transport"
)

// config is everything agentd reads. Every command accepts every flag, so
// one config file serves them all.
type config struct {
	node agentd.Config

	// buyer
	openaiAddr, socksAddr string
	replicas              int
	streams               int
	keyLogN               int
	minProviders          int
	duration              time.Duration
	maxStorage            uint64
	maxBandwidth          uint64
	maxInference          uint64
	stallTimeout          time.Duration
	firstChunkTimeout     time.Duration
	seeds                 string
	privateBids           bool
	bid                   string
	inferenceSources      string
	autoRepair            time.Duration

	// provider
	storageSize      string
	storagePrice     uint64
	storageUpload    uint64
	storageRetrieval *uint64
	storageRetention time.Duration
	blossomAddr      string
	routstrAddr      string
	bandwidthPrice   uint64
	bandwidthCap     uint64
	allowPrivate     bool
	inferenceURL     string
	inferenceModels  string
	inferenceIn      uint64
	inferenceOut     uint64
	priceFloorPct    uint64
	priceCeilPct     uint64
	priceInterval    time.Duration
	settleInterval   time.Duration
	paymentWindow    time.Duration
	geohash          string
	tier             string
	dashboard        string

	// commands
	output    string
	resume    bool
	abort     bool
	since     time.Duration
	contacts  string
	threshold int
	owner     string
	to        string
	wait      time.Duration

	// Lightning through NWC (nwcfund.go)
	nwcFile     string
	nwcURI      string // SOVMESH_NWC: the connection URI itself (a secret: env only)
	topupBelow  uint64
	topupAmount uint64

	// mcp (mcp.go)
	mcpListen  string
	mcpKeyFile string
	mcpKey     string // SOVMESH_MCP_KEY: the bearer key itself (a secret: env only)

	// budget grant/revoke
	ownerKey     string
	grantPerDay  uint64
	grantPerCp   uint64
	grantExpires time.Duration

	logLevel, logFormat string

	// listenSet: --listen was given (flag, variable or file).
	listenSet bool
}

func defaultConfig() config {
	return config{
		node:             agentd.DefaultConfig(),
		openaiAddr:       "127.0.0.1:8088",
		socksAddr:        "127.0.0.1:1080",
		replicas:         3,
		streams:          8,
		keyLogN:          16,
		duration:         30 * 24 * time.Hour,
		maxStorage:       10_000_000,
		maxBandwidth:     100_000,
		maxInference:     100_000_000,
		stallTimeout:     2 * time.Second,
		settleInterval:   30 * time.Second,
		paymentWindow:    provider.DefaultPaymentWindow,
		storagePrice:     2_000_000,
		bandwidthPrice:   0,
		bandwidthCap:     1 << 20,
		inferenceIn:      1_000_000,
		inferenceOut:     3_000_000,
		priceFloorPct:    50,
		priceCeilPct:     400,
		priceInterval:    time.Minute,
		storageRetention: 30 * 24 * time.Hour,
		tier:             "branch",
		dashboard:        "127.0.0.1:8090",
		threshold:        3,
		wait:             10 * time.Minute,
		grantExpires:     30 * 24 * time.Hour,
		since:            30 * 24 * time.Hour,
		logLevel:         "info",
		logFormat:        "text",
		bid:              "targeted",
		inferenceSources: string(buyer.SourcesMarket),
	}
}

func listFlag(dst *[]string) func(string) error {
	return func(v string) error {
		*dst = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*dst = append(*dst, s)
			}
		}
		return nil
	}
}

// newFlagSet registers every flag of every command (commands.go says
// which command reads which). It prints nothing: run prints help and
// errors.
func newFlagSet(c *config) *flag.FlagSet {
	n := &c.node
	fs := flag.NewFlagSet("agentd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.String("config", "", "optional config `file` of \"name = value\" lines")
	fs.StringVar(&n.DataDir, "data", n.DataDir, "directory for the key, state, wallet and chunk store")
	fs.Func("relay", "comma-separated relay URLs (default ws://127.0.0.1:7447)", listFlag(&n.Relays))
	fs.Func("mint", "comma-separated Cashu mint URLs; the first is the default (default: the mints the relays list in NIP-11)", listFlag(&n.Mints))
	fs.Func("listen", "comma-separated libp2p listen multiaddrs (default all interfaces, TCP and QUIC, random ports)", listFlag(&n.ListenAddrs))
	fs.DurationVar(&n.DialTimeout, "dial-timeout", n.DialTimeout, "longest dial to a peer: a provider gone without refusing (a dead host, a silent QUIC port) fails within it (0: 5s on a private address, 15s on others)")
	fs.Uint64Var(&n.BudgetPerDay, "budget-per-day", n.BudgetPerDay, "most sats spent per UTC day (0: no limit)")
	fs.Uint64Var(&n.BudgetPerCounterparty, "budget-per-counterparty", n.BudgetPerCounterparty, "most sats paid to one counterparty per UTC day (0: no limit)")
	fs.Func("budget-owner", "comma-separated pubkeys whose signed spending authorizations (market/pay/budget) payments also need", listFlag(&n.BudgetOwners))
	fs.IntVar(&n.BudgetKind, "budget-kind", agentd.DefaultBudgetKind, "kind of the owners' spending authorizations (older kind-30078 ones are read too)")
	fs.StringVar(&c.ownerKey, "owner-key", c.ownerKey, "budget: `file` (mode 0600) holding the owner's secret key, nsec or hex")
	fs.Uint64Var(&c.grantPerDay, "per-day", c.grantPerDay, "budget grant: sats the agent may spend per UTC day")
	fs.Uint64Var(&c.grantPerCp, "per-counterparty", c.grantPerCp, "budget grant: sats the agent may pay one counterparty per UTC day (0: no cap)")
	fs.DurationVar(&c.grantExpires, "expires", c.grantExpires, "budget grant: how long the authorization lasts")
	fs.StringVar(&c.openaiAddr, "openai", c.openaiAddr, "serve: address of the local OpenAI-compatible endpoint (empty: off)")
	fs.StringVar(&c.socksAddr, "socks", c.socksAddr, "serve: address of the local SOCKS5 proxy (empty: off)")
	fs.IntVar(&c.replicas, "replicas", c.replicas, "store: providers a file is spread over (survives the loss of one)")
	fs.IntVar(&c.streams, "streams", c.streams, "store: parallel streams per storage provider in a put or get")
	fs.IntVar(&c.minProviders, "min-providers", c.minProviders, "store: fewest providers a put may succeed with (0: 2, enough to survive losing one; 1 with --replicas 1)")
	fs.DurationVar(&c.duration, "duration", c.duration, "store: how long files are kept")
	fs.Uint64Var(&c.maxStorage, "max-storage-price", c.maxStorage, "most msat per GiB-day paid for storage (and per GiB uploaded or retrieved)")
	fs.Uint64Var(&c.maxBandwidth, "max-bandwidth-price", c.maxBandwidth, "most msat per MiB paid for bandwidth")
	fs.Uint64Var(&c.maxInference, "max-inference-price", c.maxInference, "most msat per 1M tokens (each way) paid for inference")
	fs.DurationVar(&c.stallTimeout, "stall-timeout", c.stallTimeout, "silence between chunks after which a provider is replaced mid-session")
	fs.DurationVar(&c.firstChunkTimeout, "first-chunk-timeout", c.firstChunkTimeout, "longest wait for a completion's first chunk (payment redemption and prompt reading)")
	fs.DurationVar(&c.autoRepair, "auto-repair", c.autoRepair, "serve: every this often, check the providers of each of our files and repair those that lost one, as store repair does (0: off; at least 1m)")
	fs.BoolVar(&c.privateBids, "private-bids", c.privateBids, "gift-wrap bids to the provider (NIP-59): the relay never sees them")
	fs.StringVar(&c.inferenceSources, "inference-sources", c.inferenceSources, "serve, mcp: where inference is bought: market (sovmesh inference offers), routstr (Routstr providers announced with kind 38421, paid per request with X-Cashu) or all (both, ranked together)")
	fs.StringVar(&c.bid, "bid", c.bid, "serve, mcp, store put: how bandwidth, inference and a new put's storage are bought: targeted (rank the offers, bid on the best) or open (open bids the relays propose to providers, who confirm; the best confirmed matches are taken, the others declined)")
	fs.StringVar(&c.seeds, "trust-seeds", c.seeds, "comma-separated pubkeys trusted for ranking, besides our own")
	fs.StringVar(&c.storageSize, "storage-size", c.storageSize, "provide: disk space sold (e.g. 10GiB; empty: no storage)")
	fs.Uint64Var(&c.storagePrice, "storage-price", c.storagePrice, "provide: base storage price, msat per GiB-day")
	fs.Uint64Var(&c.storageUpload, "storage-upload-price", c.storageUpload, "provide: storage upload price, msat per GiB received")
	fs.Func("storage-retrieval-price", "provide: storage retrieval price, msat per GiB served back (default: the --storage-price, one day of holding)", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return err
		}
		c.storageRetrieval = &n
		return nil
	})
	fs.DurationVar(&c.storageRetention, "storage-retention", c.storageRetention, "provide: longest storage period sold")
	fs.StringVar(&c.blossomAddr, "blossom", c.blossomAddr, "provide: address of a Blossom server (BUD-01/02/07, paid with Cashu) on the storage sold, e.g. 127.0.0.1:3000 (empty: off)")
	fs.StringVar(&c.routstrAddr, "routstr", c.routstrAddr, "provide: address of a Routstr endpoint (OpenAI-compatible HTTP paid per request with X-Cashu, announced as kind 38421) on the inference sold, e.g. 127.0.0.1:8000 (empty: off)")
	fs.Uint64Var(&c.bandwidthPrice, "bandwidth-price", c.bandwidthPrice, "provide: bandwidth price, msat per MiB (e.g. 2000; 0: no bandwidth)")
	fs.Uint64Var(&c.bandwidthCap, "bandwidth-capacity", c.bandwidthCap, "provide: MiB of bandwidth for sale")
	fs.BoolVar(&c.allowPrivate, "allow-private-targets", c.allowPrivate, "provide: let buyers reach loopback and private addresses; serve, mcp: buy from Routstr providers at such addresses (tests, a LAN)")
	fs.StringVar(&c.inferenceURL, "inference-url", c.inferenceURL, "provide: OpenAI-compatible server to sell (Ollama: http://127.0.0.1:11434/v1; empty: no inference)")
	fs.StringVar(&c.inferenceModels, "inference-models", c.inferenceModels, "provide: comma-separated models to sell (default: the server's /v1/models)")
	fs.Uint64Var(&c.inferenceIn, "inference-price-in", c.inferenceIn, "provide: base price, msat per 1M prompt tokens")
	fs.Uint64Var(&c.inferenceOut, "inference-price-out", c.inferenceOut, "provide: base price, msat per 1M completion tokens")
	fs.Uint64Var(&c.priceFloorPct, "price-floor", c.priceFloorPct, "provide: lowest dynamic price, percent of the base")
	fs.Uint64Var(&c.priceCeilPct, "price-ceiling", c.priceCeilPct, "provide: highest dynamic price, percent of the base")
	fs.DurationVar(&c.priceInterval, "price-interval", c.priceInterval, "provide: how often prices follow load")
	fs.DurationVar(&n.ReclaimGrace, "reclaim-grace", agentd.DefaultReclaimGrace, "a market payment the payee has not redeemed this long after it was sent is taken back (at start and every period)")
	fs.DurationVar(&n.RefundLock, "refund-lock", agentd.DefaultRefundLock, "provide: a closed session's unused credit is refunded in a token only the buyer can redeem for this long; after it, one the buyer never collected comes back to this provider")
	fs.Uint64Var(&n.RelayTopUp, "relay-topup", n.RelayTopUp, "sats prepaid at once to a fee-charging relay that takes top-ups, when an event needs its fee; later events are charged from that balance (0: each event pays its own fee)")
	fs.BoolVar(&n.NIP60, "nip60", n.NIP60, "mirror the wallet to the relays as NIP-60 events (encrypted to this key), so a NIP-60 wallet app with the same key sees the same ecash")
	fs.Uint64Var(&n.OfflineLimit, "offline-limit", n.OfflineLimit, "provide: most sats per mint accepted while the mint cannot be reached, checked on their DLEQ proofs and swapped once it is back (a double spend meanwhile is lost; 0: refuse such payments)")
	fs.BoolVar(&n.MDNS, "mdns", n.MDNS, "find peers on the LAN (mDNS) and trade with them with no relay")
	fs.StringVar(&n.MDNSService, "mdns-service", transport.DefaultMDNSService, "mDNS service name: one LAN market per name")
	fs.DurationVar(&c.paymentWindow, "payment-window", c.paymentWindow, "provide: how long a confirmed open bid holds capacity unpaid before it lapses (at most 1h) and the provider releases its match to the relays (kind 8469); a buyer's decline (kind 8469) releases it at once")
	fs.DurationVar(&c.settleInterval, "settle-interval", c.settleInterval, "provide: how often payments accepted offline are swapped at their mint and events queued while no relay answered are published")
	fs.StringVar(&c.geohash, "geohash", c.geohash, "provide: where this node is (geohash, optional)")
	fs.StringVar(&c.tier, "tier", c.tier, "provide: root, branch or leaf")
	fs.StringVar(&c.dashboard, "dashboard", c.dashboard, "provide: host:port of the local web dashboard (earnings, network health, prices; read-only, no login: keep it on loopback or a trusted LAN; empty: off)")
	fs.StringVar(&c.output, "o", c.output, "store get: output file (default: stdout)")
	fs.BoolVar(&c.resume, "resume", c.resume, "store put: resume the unfinished put of FILE (no FILE: every unfinished put)")
	fs.BoolVar(&c.abort, "abort", c.abort, "store put: abort the unfinished put of FILE (no FILE: every one), deleting its chunks")
	fs.DurationVar(&c.since, "since", c.since, "earnings: period to sum")
	fs.StringVar(&c.contacts, "contacts", c.contacts, "keys split: comma-separated contact pubkeys (hex), one share each")
	fs.IntVar(&c.threshold, "k", c.threshold, "keys split: shares needed to recover")
	fs.StringVar(&c.owner, "owner", c.owner, "keys return-share/recover: pubkey whose key is recovered")
	fs.StringVar(&c.to, "to", c.to, "keys return-share: the recovery pubkey the owner shows")
	fs.DurationVar(&c.wait, "wait", c.wait, "keys recover: how long to wait for shares")
	fs.StringVar(&c.nwcFile, "nwc-file", c.nwcFile, "file (mode 0600) holding the owner's nostr+walletconnect:// URI, for wallet fund-nwc/withdraw-nwc and top-ups (or the URI itself in SOVMESH_NWC)")
	fs.Uint64Var(&c.topupBelow, "nwc-topup-below", c.topupBelow, "serve, provide: when the balance falls below this many sats, fund --nwc-topup-amount from the NWC wallet (0: off)")
	fs.Uint64Var(&c.topupAmount, "nwc-topup-amount", c.topupAmount, "sats each NWC top-up funds (at most --budget-per-day)")
	fs.StringVar(&c.mcpListen, "mcp-listen", c.mcpListen, "mcp: loopback address to serve MCP on over streamable HTTP, with a bearer key (empty: stdin/stdout)")
	fs.StringVar(&c.mcpKeyFile, "mcp-key-file", c.mcpKeyFile, "mcp: `file` (mode 0600) holding the bearer key HTTP clients must send (or the key itself in SOVMESH_MCP_KEY)")
	fs.StringVar(&c.logLevel, "log-level", c.logLevel, "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", c.logFormat, "text or json")
	fs.IntVar(&c.keyLogN, "key-logn", c.keyLogN, "scrypt cost (log2 N, NIP-49) of a key file this command writes: a new key, keys import, keys rekey; below 16 a stolen file is cheaper to guess")
	return fs
}

// parseConfig reads flags, environment and config file. It returns the
// command words and the positional arguments.
func parseConfig(args []string, getenv func(string) string) (config, []string, error) {
	c := defaultConfig()
	fs := newFlagSet(&c)
	var bad *badSetting
	checkValues(fs, &bad)
	flags, pos := splitArgs(fs, args)
	err := settings.Load(fs, flags, getenv, "config")
	src := newSources(flags, getenv, fs.Lookup("config").Value.String())
	if err != nil {
		return c, nil, loadError(fs, err, bad, src)
	}
	if err := c.check(fs, src); err != nil {
		return c, nil, err
	}
	fs.Visit(func(f *flag.Flag) { c.listenSet = c.listenSet || f.Name == "listen" })
	c.node.KeyLogN = uint8(c.keyLogN)
	c.node.Passphrase = getenv("SOVMESH_PASSPHRASE")
	c.nwcURI = getenv(nwcEnv)
	c.mcpKey = getenv(mcpKeyEnv)
	// A crash test's kill point (internal/crashat); not a flag.
	hook, err := crashat.FromEnv(getenv)
	if err != nil {
		return c, nil, err
	}
	c.node.StepHook = hook
	return c, pos, nil
}

// splitArgs moves flags before positional arguments, so flags may follow
// them ("store get ROOT -o FILE").
func splitArgs(fs *flag.FlagSet, args []string) (flags, pos []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return flags, pos
}

// check refuses values out of range, naming the flag.
func (c *config) check(fs *flag.FlagSet, src sources) error {
	bad := func(name string, value any) error {
		return &badSetting{name: name, value: fmt.Sprint(value), from: src.of(name), want: want(fs.Lookup(name))}
	}
	n := &c.node
	switch {
	case n.DataDir == "":
		return bad("data", n.DataDir)
	case len(n.Relays) == 0:
		return bad("relay", "")
	}
	for _, r := range n.Relays {
		if !strings.HasPrefix(r, "ws://") && !strings.HasPrefix(r, "wss://") {
			return bad("relay", r)
		}
	}
	for _, m := range n.Mints {
		if _, err := cashu.NormalizeMintURL(m); err != nil {
			return bad("mint", m)
		}
	}
	for _, o := range n.BudgetOwners {
		if !nostr.IsValid32ByteHex(o) {
			return bad("budget-owner", o)
		}
	}
	if err := n.Validate(); err != nil {
		return err
	}
	var level slog.Level
	switch {
	case n.BudgetKind < 30000 || n.BudgetKind > 39999:
		return bad("budget-kind", n.BudgetKind)
	case n.ReclaimGrace <= 0:
		return bad("reclaim-grace", n.ReclaimGrace)
	case n.DialTimeout < 0:
		return bad("dial-timeout", n.DialTimeout)
	case n.RefundLock < time.Minute:
		return bad("refund-lock", n.RefundLock)
	case c.replicas < 1 || c.replicas > 32:
		return bad("replicas", c.replicas)
	case c.minProviders < 0 || c.minProviders > c.replicas:
		return bad("min-providers", c.minProviders)
	case c.autoRepair < 0 || (c.autoRepair > 0 && c.autoRepair < time.Minute):
		return bad("auto-repair", c.autoRepair)
	case c.threshold < 2:
		return bad("k", c.threshold)
	case c.priceFloorPct == 0 || c.priceFloorPct > 100:
		return bad("price-floor", c.priceFloorPct)
	case c.priceCeilPct < 100:
		return bad("price-ceiling", c.priceCeilPct)
	case !nips.Tier(c.tier).Valid():
		return bad("tier", c.tier)
	case c.grantExpires <= 0:
		return bad("expires", c.grantExpires)
	case level.UnmarshalText([]byte(c.logLevel)) != nil:
		return bad("log-level", c.logLevel)
	case c.logFormat != "text" && c.logFormat != "json":
		return bad("log-format", c.logFormat)
	case c.paymentWindow <= 0 || c.paymentWindow > nips.MaxMatchTTL*time.Second:
		return bad("payment-window", c.paymentWindow)
	case c.bid != "targeted" && c.bid != "open":
		return bad("bid", c.bid)
	case !buyer.Sources(c.inferenceSources).Valid():
		return bad("inference-sources", c.inferenceSources)
	}
	switch {
	case c.streams < 1 || c.streams > 64:
		return bad("streams", c.streams)
	case c.keyLogN < 1 || c.keyLogN > 22:
		return bad("key-logn", c.keyLogN)
	case c.topupBelow > 0 && c.topupAmount == 0:
		return bad("nwc-topup-amount", c.topupAmount)
	case c.topupBelow > 0 && c.node.BudgetPerDay > 0 && c.topupAmount > c.node.BudgetPerDay:
		return bad("nwc-topup-amount", c.topupAmount)
	}
	if c.dashboard != "" {
		if _, _, err := net.SplitHostPort(c.dashboard); err != nil {
			return bad("dashboard", c.dashboard)
		}
	}
	if c.storageSize != "" {
		if _, err := parseSize(c.storageSize); err != nil {
			return bad("storage-size", c.storageSize)
		}
	}
	if c.blossomAddr != "" {
		if _, _, err := net.SplitHostPort(c.blossomAddr); err != nil || c.storageSize == "" {
			return bad("blossom", c.blossomAddr)
		}
	}
	if c.routstrAddr != "" {
		if _, _, err := net.SplitHostPort(c.routstrAddr); err != nil || c.inferenceURL == "" {
			return bad("routstr", c.routstrAddr)
		}
	}
	return nil
}

func (c *config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, err // check refused it
	}
	h := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, h)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, h)), nil
	}
	return nil, fmt.Errorf("log-format %q: want text or json", c.logFormat)
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// parseSize reads sizes like 512MiB, 10GiB, 1TB or plain bytes.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 || n*float64(mult) > 1<<60 {
		return 0, fmt.Errorf("size %q: want a positive number with KiB, MiB, GiB, TiB (or KB, MB, GB, TB)", s)
	}
	return int64(n * float64(mult)), nil
}

func (c *config) providerConfig() (provider.Config, error) {
	var pc provider.Config
	bounds := func(base uint64) *provider.Pricing {
		p := provider.DefaultPricing(base)
		p.Min = max(base*c.priceFloorPct/100, 1)
		p.Max = base * c.priceCeilPct / 100
		return &p
	}
	if c.storageSize != "" {
		q, err := parseSize(c.storageSize)
		if err != nil {
			return pc, err
		}
		pc.Storage = &provider.StorageConfig{Quota: q, PriceMsat: c.storagePrice, UploadMsat: c.storageUpload, RetrievalMsat: c.storageRetrieval,
			Retention: uint64(c.storageRetention / time.Second), Pricing: bounds(c.storagePrice)}
	}
	if c.bandwidthPrice > 0 {
		pc.Bandwidth = &provider.BandwidthConfig{PriceMsat: c.bandwidthPrice, CapacityMiB: c.bandwidthCap, AllowPrivateTargets: c.allowPrivate, Pricing: bounds(c.bandwidthPrice)}
	}
	if c.inferenceURL != "" {
		pc.Inference = &provider.InferenceConfig{URL: c.inferenceURL, Models: splitList(c.inferenceModels), PriceInMsat: c.inferenceIn, PriceOutMsat: c.inferenceOut, Pricing: bounds(c.inferenceIn)}
	}
	pc.Blossom = c.blossomAddr
	pc.Routstr = c.routstrAddr
	pc.Tier = nips.Tier(c.tier)
	pc.Geohash = c.geohash
	pc.PriceInterval = c.priceInterval
	pc.SettleInterval = c.settleInterval
	pc.PaymentWindow = c.paymentWindow
	return pc, nil
}

func (c *config) buyerConfig() buyer.Config {
	return buyer.Config{
		Ceilings: map[nips.Resource]nips.Prices{
			nips.Storage:   buyer.StorageCeiling(c.maxStorage),
			nips.Bandwidth: {{Unit: nips.UnitMiB, Msat: c.maxBandwidth}},
			nips.Inference: {{Unit: nips.UnitMInputTokens, Msat: c.maxInference}, {Unit: nips.UnitMOutputTokens, Msat: c.maxInference}},
		},
		Replicas:            c.replicas,
		MinProviders:        c.minProviders,
		Streams:             c.streams,
		StorageDuration:     c.duration,
		StallTimeout:        c.stallTimeout,
		FirstChunkTimeout:   c.firstChunkTimeout,
		Seeds:               splitList(c.seeds),
		PrivateBids:         c.privateBids,
		OpenBids:            c.bid == "open",
		InferenceSources:    buyer.Sources(c.inferenceSources),
		AllowPrivateSources: c.allowPrivate,
	}
}
