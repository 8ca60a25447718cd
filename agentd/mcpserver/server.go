// Package mcpserver serves an agent's market as Model Context Protocol
// tools (github.com/modelcontextprotocol/go-sdk): search offers, quote a
// purchase, store, fetch, list and delete files, ask a model, open a
// bandwidth proxy, read the wallet and the budgets. Every payment goes
// through the agent's buyer (agentd/buyer) and so through the same wallet,
// budgets and owners' authorizations as the CLI.
package mcpserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/buyer"
	"github.com/sovmesh/sovmesh/agentd/metering"
	"github.com/sovmesh/sovmesh/agentd/safebox"
	"github.com/sovmesh/sovmesh/agentd/socks5"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/budget"
	"github.com/sovmesh/sovmesh/nips"
)

// Errors.
var (
	// ErrBadInput is a tool argument out of range.
	ErrBadInput = errors.New("invalid")
	// ErrTooLarge is a file over MaxFile.
	ErrTooLarge = errors.New("file too large for a tool call")
)

// MaxFile bounds the files store_put takes and store_get returns: a tool
// call carries them whole, as JSON (the CLI has no such bound).
const MaxFile = 2 << 20

// lsRelayWait is how long store_ls waits for the relays before listing
// from the local cache alone.
const lsRelayWait = 5 * time.Second

// walletReader is what the wallet tool reads of the wallet.
type walletReader interface {
	Balance(ctx context.Context) (uint64, error)
	Mints() []string
	MintBalance(ctx context.Context, mint string) (uint64, error)
}

// ownerBudget gives the owner's spending authorization in force.
type ownerBudget interface {
	OwnerAuthorization(ctx context.Context) (a budget.Authorization, spentToday uint64, ok bool, err error)
}

// Server is the agent's MCP tools on a node and its buyer. Close it to
// stop the bandwidth proxy it may have opened.
type Server struct {
	// What the tools read of the agent's node (New takes them from it).
	pubkey string
	db     *state.DB
	wal    walletReader
	box    *safebox.Box
	budget *state.Budget
	owners []string // Config.BudgetOwners
	owner  ownerBudget

	b   *buyer.Buyer
	log *slog.Logger

	mu    sync.Mutex
	socks *socks5.Server
	addr  net.Addr
}

// New returns the tools of node n buying through b.
func New(n *agentd.Node, b *buyer.Buyer, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{pubkey: n.Key.Pubkey, db: n.DB, wal: n.Wallet, box: n.Box(), budget: n.Budget(), owners: n.Config.BudgetOwners, owner: n,
		b: b, log: log}
}

// Close stops the bandwidth proxy, if bandwidth_open started one.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.socks != nil {
		s.socks.Shutdown()
		s.socks = nil
	}
}

// MCP returns an MCP server offering the tools. version names the build.
func (s *Server) MCP(version string) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "sovmesh-agentd", Version: version}, &mcp.ServerOptions{
		Instructions: "Buy storage, bandwidth and inference on the sovmesh market with this agent's Cashu wallet. " +
			"Prices are in millisatoshis per unit; payments are in sats and limited by the agent's budgets.",
		Logger:       s.log,
		Capabilities: &mcp.ServerCapabilities{},
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "search_offers", Description: "List the offers of a resource (storage, bandwidth, inference) the agent would buy from: within its price ceilings, providers reachable, best first."}, s.search)
	mcp.AddTool(srv, &mcp.Tool{Name: "quote_purchase", Description: "What a purchase costs with the best providers now: storing size_bytes, carrying mib, or prompt_tokens+completion_tokens of a model. Pays nothing."}, s.quote)
	mcp.AddTool(srv, &mcp.Tool{Name: "store_put", Description: "Store a file (encrypted, erasure-coded over several providers, paid step by step); its key goes to the agent's SafeBox. Returns its root."}, s.storePut)
	mcp.AddTool(srv, &mcp.Tool{Name: "store_get", Description: "Fetch a stored (or granted) file by its root, paying the providers' retrieval price."}, s.storeGet)
	mcp.AddTool(srv, &mcp.Tool{Name: "store_ls", Description: "List the agent's stored files (SafeBox entries on the relays and the local cache)."}, s.storeLs)
	mcp.AddTool(srv, &mcp.Tool{Name: "store_rm", Description: "Delete a stored file from its providers and forget its key."}, s.storeRm)
	mcp.AddTool(srv, &mcp.Tool{Name: "ask_model", Description: "Ask a model sold on the market (buys inference; a provider that fails is replaced by the next)."}, s.ask)
	mcp.AddTool(srv, &mcp.Tool{Name: "bandwidth_open", Description: "Open a local SOCKS5 proxy whose connections ride bandwidth bought on the market, paid per MiB; optionally reach a target through it now."}, s.bandwidth)
	mcp.AddTool(srv, &mcp.Tool{Name: "wallet", Description: "The agent's Cashu wallet: balance per mint and the ledger's totals."}, s.wallet)
	mcp.AddTool(srv, &mcp.Tool{Name: "budgets", Description: "The agent's spending limits: per UTC day and per counterparty, what is spent and left today, and the owners whose authorizations payments need."}, s.budgets)
	return srv
}

func resource(r string) (nips.Resource, error) {
	if res := nips.Resource(strings.TrimSpace(r)); res.Valid() {
		return res, nil
	}
	return "", fmt.Errorf("%w: resource %q: want storage, bandwidth or inference", ErrBadInput, r)
}

func prices(ps nips.Prices) []Price {
	out := make([]Price, 0, len(ps))
	for _, p := range ps {
		out = append(out, Price{Unit: string(p.Unit), Msat: p.Msat})
	}
	return out
}

func (s *Server) search(ctx context.Context, _ *mcp.CallToolRequest, in SearchIn) (*mcp.CallToolResult, SearchOut, error) {
	r, err := resource(in.Resource)
	if err != nil {
		return nil, SearchOut{}, err
	}
	cands, err := s.b.Discover(ctx, r, in.Model)
	if err != nil && !errors.Is(err, buyer.ErrNoOffer) {
		return nil, SearchOut{}, err
	}
	out := SearchOut{Offers: []Offer{}}
	for _, c := range cands {
		o := c.Offer
		out.Offers = append(out.Offers, Offer{Provider: o.Pubkey, ID: o.ID, Resource: string(o.Resource), Prices: prices(o.Prices), Models: o.Models,
			Capacity: o.Capacity, Geohash: o.Geohash, Tier: string(o.Tier), Title: o.Title, Trust: c.Trust, LatencyMs: c.Latency.Milliseconds(),
			LoadPercent: c.Load, Score: c.Score})
	}
	return nil, out, nil
}

func (s *Server) quote(ctx context.Context, _ *mcp.CallToolRequest, in QuoteIn) (*mcp.CallToolResult, QuoteOut, error) {
	r, err := resource(in.Resource)
	if err != nil {
		return nil, QuoteOut{}, err
	}
	out := QuoteOut{Resource: string(r), Providers: []ProviderQuote{}}
	if r == nips.Storage {
		if in.SizeBytes <= 0 {
			return nil, out, fmt.Errorf("%w: size_bytes: want the size of the file to store", ErrBadInput)
		}
		q, err := s.b.Quote(ctx, in.SizeBytes)
		if err != nil {
			return nil, out, err
		}
		out.Sats, out.MostSats, out.Duration = q.Sats, q.Cap, q.Duration.String()
		for _, p := range q.Providers {
			out.Providers = append(out.Providers, ProviderQuote{Provider: p.Provider, Prices: prices(p.Prices), Bytes: p.Bytes, Sats: p.Sats, MostSats: p.Cap})
		}
		return nil, out, nil
	}
	var cost func(nips.Prices) uint64
	switch r {
	case nips.Bandwidth:
		if in.MiB == 0 {
			return nil, out, fmt.Errorf("%w: mib: want the MiB to carry", ErrBadInput)
		}
		cost = func(p nips.Prices) uint64 {
			per, _ := p.Of(nips.UnitMiB)
			return metering.MsatToSats(per * in.MiB)
		}
	default:
		if in.Model == "" || in.PromptTokens+in.CompletionTokens == 0 {
			return nil, out, fmt.Errorf("%w: inference: want model and prompt_tokens and/or completion_tokens", ErrBadInput)
		}
		cost = func(p nips.Prices) uint64 {
			return metering.MsatToSats(metering.InferenceCost(p, in.PromptTokens, in.CompletionTokens))
		}
	}
	cands, err := s.b.Discover(ctx, r, in.Model)
	if err != nil {
		return nil, out, err
	}
	best := cands[0].Offer
	sats := cost(best.Prices)
	out.Sats, out.MostSats = sats, sats
	out.Providers = append(out.Providers, ProviderQuote{Provider: best.Pubkey, Prices: prices(best.Prices), Sats: sats, MostSats: sats})
	return nil, out, nil
}

func (s *Server) storePut(ctx context.Context, _ *mcp.CallToolRequest, in StorePutIn) (*mcp.CallToolResult, StorePutOut, error) {
	data := []byte(in.Content)
	if in.ContentBase64 != "" {
		if in.Content != "" {
			return nil, StorePutOut{}, fmt.Errorf("%w: give content or content_base64, not both", ErrBadInput)
		}
		var err error
		if data, err = base64.StdEncoding.DecodeString(in.ContentBase64); err != nil {
			return nil, StorePutOut{}, fmt.Errorf("%w: content_base64: %w", ErrBadInput, err)
		}
	}
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		return nil, StorePutOut{}, fmt.Errorf("%w: name: want the file's name", ErrBadInput)
	case len(data) == 0:
		return nil, StorePutOut{}, fmt.Errorf("%w: content: the file is empty", ErrBadInput)
	case len(data) > MaxFile:
		return nil, StorePutOut{}, fmt.Errorf("%w: %d bytes, at most %d (store larger files with agentd store put)", ErrTooLarge, len(data), MaxFile)
	}
	e, err := s.b.Put(ctx, bytes.NewReader(data), name, int64(len(data)), nil)
	if err != nil {
		return nil, StorePutOut{}, err
	}
	return nil, StorePutOut{Root: e.Root, Name: e.Name, Size: e.Size, Providers: e.Providers}, nil
}

// capped is a buffer that refuses to grow past MaxFile.
type capped struct{ bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if c.Len()+len(p) > MaxFile {
		return 0, fmt.Errorf("%w: over %d bytes (fetch it with agentd store get)", ErrTooLarge, MaxFile)
	}
	return c.Buffer.Write(p)
}

func (s *Server) storeGet(ctx context.Context, _ *mcp.CallToolRequest, in RootIn) (*mcp.CallToolResult, StoreGetOut, error) {
	root := strings.TrimSpace(in.Root)
	if root == "" {
		return nil, StoreGetOut{}, fmt.Errorf("%w: root: want the file's root", ErrBadInput)
	}
	var buf capped
	e, err := s.b.Get(ctx, root, &buf, nil)
	if err != nil {
		return nil, StoreGetOut{}, err
	}
	out := StoreGetOut{Root: root, Name: e.Name, Size: int64(buf.Len())}
	if utf8.Valid(buf.Bytes()) {
		out.Content = buf.String()
	} else {
		out.ContentBase64 = base64.StdEncoding.EncodeToString(buf.Bytes())
	}
	return nil, out, nil
}

func (s *Server) storeLs(ctx context.Context, _ *mcp.CallToolRequest, _ StoreLsIn) (*mcp.CallToolResult, StoreLsOut, error) {
	l, err := s.box.ListSources(ctx, lsRelayWait)
	if err != nil {
		return nil, StoreLsOut{}, err
	}
	out := StoreLsOut{Files: []StoredFile{}}
	if l.RelayErr != nil {
		out.RelayErr = l.RelayErr.Error()
	}
	seen := map[string]bool{}
	for _, x := range l.Entries {
		seen[x.Root] = true
		out.Files = append(out.Files, StoredFile{Root: x.Root, Name: x.Name, Size: x.Size, Providers: len(x.Providers),
			Stored: time.Unix(x.Created, 0).UTC().Format(time.RFC3339), Source: x.Source()})
	}
	fs, err := s.db.Files(ctx)
	if err != nil {
		return nil, out, err
	}
	for _, f := range fs {
		if seen[f.Root] || len(f.Providers) == 0 {
			continue
		}
		out.Files = append(out.Files, StoredFile{Root: f.Root, Name: f.Name, Size: f.Size, Providers: len(f.Providers),
			Stored: f.CreatedAt.UTC().Format(time.RFC3339), Source: "local (no SafeBox entry)"})
	}
	return nil, out, nil
}

func (s *Server) storeRm(ctx context.Context, _ *mcp.CallToolRequest, in RootIn) (*mcp.CallToolResult, StoreRmOut, error) {
	root := strings.TrimSpace(in.Root)
	if root == "" {
		return nil, StoreRmOut{}, fmt.Errorf("%w: root: want the file's root", ErrBadInput)
	}
	if err := s.b.Delete(ctx, root); err != nil {
		return nil, StoreRmOut{}, err
	}
	return nil, StoreRmOut{Root: root, Deleted: true}, nil
}

func (s *Server) ask(ctx context.Context, _ *mcp.CallToolRequest, in AskIn) (*mcp.CallToolResult, AskOut, error) {
	msgs := make([]buyer.Message, 0, len(in.Messages)+1)
	for _, m := range in.Messages {
		msgs = append(msgs, buyer.Message{Role: m.Role, Content: m.Content})
	}
	if in.Prompt != "" {
		msgs = append(msgs, buyer.Message{Role: "user", Content: in.Prompt})
	}
	switch {
	case strings.TrimSpace(in.Model) == "":
		return nil, AskOut{}, fmt.Errorf("%w: model: want a model search_offers lists", ErrBadInput)
	case len(msgs) == 0:
		return nil, AskOut{}, fmt.Errorf("%w: want a prompt or messages", ErrBadInput)
	}
	a, err := s.b.Ask(ctx, in.Model, msgs, in.MaxTokens)
	if err != nil {
		return nil, AskOut{}, err
	}
	return nil, AskOut{Content: a.Content, Model: a.Model, Provider: a.Provider, FinishReason: a.FinishReason,
		PromptTokens: a.PromptTokens, CompletionTokens: a.CompletionTokens}, nil
}

// loopback reports whether addr ("host:port") names a loopback IP.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) bandwidth(ctx context.Context, _ *mcp.CallToolRequest, in BandwidthIn) (*mcp.CallToolResult, BandwidthOut, error) {
	listen := in.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	if !loopback(listen) {
		return nil, BandwidthOut{}, fmt.Errorf("%w: listen %q: want a loopback address (127.0.0.1:PORT)", ErrBadInput, in.Listen)
	}
	s.mu.Lock()
	if s.socks == nil {
		srv, addr, err := s.b.ServeSOCKS(listen)
		if err != nil {
			s.mu.Unlock()
			return nil, BandwidthOut{}, err
		}
		s.socks, s.addr = srv, addr
		s.log.Info("mcp: SOCKS5 proxy open", "addr", addr.String())
	}
	out := BandwidthOut{SOCKS5: s.addr.String()}
	s.mu.Unlock()
	if in.Target != "" {
		if _, _, err := net.SplitHostPort(in.Target); err != nil {
			return nil, out, fmt.Errorf("%w: target %q: want host:port", ErrBadInput, in.Target)
		}
		conn, err := s.b.DialBandwidth(ctx, in.Target)
		if err != nil {
			return nil, out, err
		}
		_ = conn.Close()
		out.Reached = in.Target
	}
	return nil, out, nil
}

func (s *Server) wallet(ctx context.Context, _ *mcp.CallToolRequest, _ Empty) (*mcp.CallToolResult, WalletOut, error) {
	w := s.wal
	out := WalletOut{Pubkey: s.pubkey, Mints: []MintBalance{}}
	bal, err := w.Balance(ctx)
	if err != nil {
		return nil, out, err
	}
	out.BalanceSats = bal
	for _, m := range w.Mints() {
		sats, err := w.MintBalance(ctx, m)
		if err != nil {
			return nil, out, err
		}
		out.Mints = append(out.Mints, MintBalance{Mint: m, Sats: sats})
	}
	t, err := s.db.Totals(ctx, time.Time{})
	if err != nil {
		return nil, out, err
	}
	out.Spent, out.Refunded, out.Earned, out.Pending, out.Reclaimed = t.Spent, t.Refunded, t.Earned, t.Pending, t.Reclaimed
	return nil, out, nil
}

func (s *Server) budgets(ctx context.Context, _ *mcp.CallToolRequest, _ Empty) (*mcp.CallToolResult, BudgetsOut, error) {
	b := s.budget
	out := BudgetsOut{PerDaySats: b.PerDay, PerCounterpartySats: b.PerCounterparty, Owners: s.owners}
	spent, err := b.SpentToday(ctx)
	if err != nil {
		return nil, out, err
	}
	out.SpentTodaySats = spent
	if b.PerDay > 0 {
		left := b.PerDay - min(spent, b.PerDay)
		out.LeftTodaySats = &left
	}
	a, ownerSpent, ok, err := s.owner.OwnerAuthorization(ctx)
	switch {
	case !ok:
	case errors.Is(err, budget.ErrNoBudget):
		out.Owner = &OwnerBudget{}
	case err != nil:
		return nil, out, err
	default:
		out.Owner = &OwnerBudget{InForce: true, ID: a.ID, Owner: a.Owner, PerDaySats: a.PerDay, PerCounterpartySats: a.PerCounterparty,
			Expires: a.Expires.UTC().Format(time.RFC3339), SpentTodaySats: ownerSpent, LeftTodaySats: a.PerDay - min(ownerSpent, a.PerDay)}
	}
	return nil, out, nil
}
