package mcpserver_test

import (
	"encoding/json"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/buyer"
	"github.com/sovmesh/sovmesh/agentd/mcpserver"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/agentd/providertest"
	"github.com/sovmesh/sovmesh/market/pay/budget"
)

var words = []string{"ecash", "for", "tokens"}

// market is a relay, the dev mint and one provider selling storage,
// inference (the stand-in model "tiny") and bandwidth (to loopback).
func market(t *testing.T) (*agentdtest.Net, *agentd.Node) {
	t.Helper()
	net := agentdtest.Start(t)
	llm := agentdtest.StartLLM(t, "tiny", words, 0)
	prov := providertest.Start(t, net, "provider", provider.Config{
		Storage:   &provider.StorageConfig{Quota: 1 << 30, PriceMsat: 1_000_000, Retention: 30 * 86400},
		Inference: &provider.InferenceConfig{URL: llm.URL, PriceInMsat: 1_000_000, PriceOutMsat: 1_000_000},
		Bandwidth: &provider.BandwidthConfig{PriceMsat: 1000, AllowPrivateTargets: true},
	})
	return net, prov
}

// connect serves the tools of an agent node n over an in-memory transport
// to a Go SDK client.
func connect(t *testing.T, n *agentd.Node) *mcp.ClientSession {
	t.Helper()
	b, err := buyer.New(t.Context(), n, buyer.Config{Replicas: 1, MinProviders: 1})
	if err != nil {
		t.Fatal(err)
	}
	tools := mcpserver.New(n, b, agentdtest.Logger())
	t.Cleanup(tools.Close)
	ct, st := mcp.NewInMemoryTransports()
	ss, err := tools.MCP("test").Connect(t.Context(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// call calls tool with args and decodes its structured output into out;
// it fails the test if the tool failed.
func call(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any, out any) {
	t.Helper()
	if msg, failed := callErr(t, cs, tool, args, out); failed {
		t.Fatalf("%s %v: %s", tool, args, msg)
	}
}

// callErr calls tool and reports whether it failed, with its message.
func callErr(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any, out any) (string, bool) {
	t.Helper()
	if args == nil {
		args = map[string]any{}
	}
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error: %v", tool, err)
	}
	var text strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			text.WriteString(tc.Text)
		}
	}
	if res.IsError {
		return text.String(), true
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: structured output %s: %v", tool, raw, err)
		}
	}
	return text.String(), false
}

// TestTools drives every tool through a Go SDK client against a real
// relay, mint and provider: the tools are listed with input and output
// schemas; offers are found and quoted; a file is stored (paid, within the
// budget, which counts it), listed, fetched back and deleted; a model
// answers; bandwidth carries a connection; bad arguments are tool errors.
func TestTools(t *testing.T) {
	mnet, prov := market(t)
	agent := mnet.NodeWith(t, "agent", 3000, func(c *agentd.Config) { c.BudgetPerDay = 2500 })
	cs := connect(t, agent)
	ctx := t.Context()

	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range lt.Tools {
		names = append(names, tl.Name)
		if tl.Description == "" || tl.InputSchema == nil || tl.OutputSchema == nil {
			t.Errorf("tool %s lacks a description or a schema", tl.Name)
		}
	}
	slices.Sort(names)
	want := []string{"ask_model", "bandwidth_open", "budgets", "quote_purchase", "search_offers", "store_get", "store_ls", "store_put", "store_rm", "wallet"}
	if !slices.Equal(names, want) {
		t.Fatalf("tools %v, want %v", names, want)
	}

	var w0 mcpserver.WalletOut
	call(t, cs, "wallet", nil, &w0)
	if w0.BalanceSats != 3000 || w0.Pubkey != agent.Key.Pubkey || len(w0.Mints) != 1 || w0.Mints[0].Sats != 3000 {
		t.Fatalf("wallet %+v, want 3000 sats at one mint", w0)
	}
	var b0 mcpserver.BudgetsOut
	call(t, cs, "budgets", nil, &b0)
	if b0.PerDaySats != 2500 || b0.SpentTodaySats != 0 || b0.LeftTodaySats == nil || *b0.LeftTodaySats != 2500 {
		t.Fatalf("budgets %+v", b0)
	}

	for _, r := range []string{"storage", "inference", "bandwidth"} {
		var s mcpserver.SearchOut
		call(t, cs, "search_offers", map[string]any{"resource": r}, &s)
		if len(s.Offers) != 1 || s.Offers[0].Provider != prov.Key.Pubkey || len(s.Offers[0].Prices) == 0 {
			t.Fatalf("search %s: %+v, want the provider's offer", r, s)
		}
	}
	var none mcpserver.SearchOut
	call(t, cs, "search_offers", map[string]any{"resource": "inference", "model": "no-such-model"}, &none)
	if len(none.Offers) != 0 {
		t.Fatalf("offers of a model nobody sells: %+v", none)
	}
	var q mcpserver.QuoteOut
	call(t, cs, "quote_purchase", map[string]any{"resource": "storage", "size_bytes": 5000}, &q)
	if len(q.Providers) != 1 || q.Sats == 0 || q.MostSats < q.Sats {
		t.Fatalf("storage quote %+v", q)
	}
	var qi mcpserver.QuoteOut
	call(t, cs, "quote_purchase", map[string]any{"resource": "inference", "model": "tiny", "prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}, &qi)
	if qi.Sats != 2000 { // 1000 sats per 1M tokens each way
		t.Fatalf("inference quote %+v, want 2000 sats", qi)
	}

	const text = "a file an agent stored through MCP"
	var put mcpserver.StorePutOut
	call(t, cs, "store_put", map[string]any{"name": "note.txt", "content": text}, &put)
	if len(put.Root) != 64 || put.Size != int64(len(text)) || !slices.Equal(put.Providers, []string{prov.Key.Pubkey}) {
		t.Fatalf("store_put %+v", put)
	}
	var ls mcpserver.StoreLsOut
	call(t, cs, "store_ls", nil, &ls)
	if !slices.ContainsFunc(ls.Files, func(f mcpserver.StoredFile) bool { return f.Root == put.Root && f.Name == "note.txt" }) {
		t.Fatalf("store_ls %+v lacks %s", ls, put.Root)
	}
	var got mcpserver.StoreGetOut
	call(t, cs, "store_get", map[string]any{"root": put.Root}, &got)
	if got.Content != text || got.Name != "note.txt" {
		t.Fatalf("store_get %+v, want %q", got, text)
	}
	var w1 mcpserver.WalletOut
	call(t, cs, "wallet", nil, &w1)
	var b1 mcpserver.BudgetsOut
	call(t, cs, "budgets", nil, &b1)
	if w1.BalanceSats >= w0.BalanceSats || b1.SpentTodaySats == 0 {
		t.Fatalf("storing paid nothing: wallet %d -> %d sats, budget spent %d", w0.BalanceSats, w1.BalanceSats, b1.SpentTodaySats)
	}
	var rm mcpserver.StoreRmOut
	call(t, cs, "store_rm", map[string]any{"root": put.Root}, &rm)
	if !rm.Deleted {
		t.Fatalf("store_rm %+v", rm)
	}
	if msg, failed := callErr(t, cs, "store_get", map[string]any{"root": put.Root}, nil); !failed {
		t.Fatal("a deleted file came back")
	} else {
		t.Logf("store_get after store_rm: %s", msg)
	}

	var a mcpserver.AskOut
	call(t, cs, "ask_model", map[string]any{"model": "tiny", "prompt": "what do you sell?", "max_tokens": 100}, &a)
	if !slices.Equal(strings.Fields(a.Content), words) || a.Provider != prov.Key.Pubkey || a.CompletionTokens == 0 {
		t.Fatalf("ask_model %+v", a)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var bw mcpserver.BandwidthOut
	call(t, cs, "bandwidth_open", map[string]any{"target": ln.Addr().String()}, &bw)
	if host, _, _ := net.SplitHostPort(bw.SOCKS5); host != "127.0.0.1" || bw.Reached != ln.Addr().String() {
		t.Fatalf("bandwidth_open %+v", bw)
	}

	for _, c := range []struct {
		name, tool string
		args       map[string]any
	}{
		{"unknown resource", "search_offers", map[string]any{"resource": "gold"}},
		{"empty file", "store_put", map[string]any{"name": "x"}},
		{"bad base64", "store_put", map[string]any{"name": "x", "content_base64": "!!"}},
		{"file too large", "store_put", map[string]any{"name": "x", "content": strings.Repeat("x", mcpserver.MaxFile+1)}},
		{"no model", "ask_model", map[string]any{"prompt": "hi"}},
		{"proxy off loopback", "bandwidth_open", map[string]any{"listen": "0.0.0.0:0"}},
		{"quote without size", "quote_purchase", map[string]any{"resource": "storage"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, failed := callErr(t, cs, c.tool, c.args, nil); !failed {
				t.Fatalf("%s %v succeeded", c.tool, c.args)
			}
		})
	}
}

// TestToolsKeepToBudgets: the tools pay through the same budgets as the
// CLI. An agent whose day's budget is too small, or whose owner signed no
// spending authorization, is refused storage and inference, with a tool
// error, and its wallet and budget are untouched.
func TestToolsKeepToBudgets(t *testing.T) {
	mnet, _ := market(t)
	owner := nostr.GeneratePrivateKey()
	ownerPub, _ := nostr.GetPublicKey(owner)
	for _, c := range []struct {
		name      string
		configure func(*agentd.Config)
		owners    []string
	}{
		{"day's budget", func(c *agentd.Config) { c.BudgetPerDay = 1 }, nil},
		{"no owner's authorization", func(c *agentd.Config) { c.BudgetOwners = []string{ownerPub} }, []string{ownerPub}},
	} {
		t.Run(c.name, func(t *testing.T) {
			agent := mnet.NodeWith(t, strings.ReplaceAll(c.name, " ", "-"), 3000, c.configure)
			cs := connect(t, agent)
			var b mcpserver.BudgetsOut
			call(t, cs, "budgets", nil, &b)
			if !slices.Equal(b.Owners, c.owners) || (b.Owner != nil) != (c.owners != nil) || (b.Owner != nil && b.Owner.InForce) {
				t.Fatalf("budgets %+v, want owners %v and no authorization in force", b, c.owners)
			}
			for _, p := range []struct {
				tool string
				args map[string]any
			}{
				{"store_put", map[string]any{"name": "x.txt", "content": strings.Repeat("x", 100_000)}},
				{"ask_model", map[string]any{"model": "tiny", "prompt": "hi", "max_tokens": 200_000}},
			} {
				msg, failed := callErr(t, cs, p.tool, p.args, nil)
				if !failed {
					t.Fatalf("%s paid past the budget", p.tool)
				}
				t.Logf("%s refused: %s", p.tool, msg)
			}
			var w mcpserver.WalletOut
			call(t, cs, "wallet", nil, &w)
			call(t, cs, "budgets", nil, &b)
			if w.BalanceSats != 3000 || w.Pending != 0 || b.SpentTodaySats != 0 {
				t.Fatalf("after refusals: wallet %+v, budget %+v", w, b)
			}
		})
	}
}

// TestToolsOwnerAuthorization: with an owner's signed authorization of 40
// sats a day, budgets shows it; a question whose reserve passes it is
// refused (and the provider is not blamed for it), then a small one is paid
// under it and counted.
func TestToolsOwnerAuthorization(t *testing.T) {
	mnet, _ := market(t)
	owner := nostr.GeneratePrivateKey()
	ownerPub, _ := nostr.GetPublicKey(owner)
	agent := mnet.NodeWith(t, "agent", 3000, func(c *agentd.Config) { c.BudgetOwners = []string{ownerPub} })
	ev, err := budget.Sign(owner, agent.Config.BudgetKind, budget.Authorization{Agent: agent.Key.Pubkey, PerDay: 40, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Relays.Publish(t.Context(), *ev); err != nil {
		t.Fatal(err)
	}
	if k, err := agent.LoadAuthorizations(t.Context()); k != 1 || err != nil {
		t.Fatalf("%d authorizations loaded: %v", k, err)
	}
	cs := connect(t, agent)
	var b mcpserver.BudgetsOut
	call(t, cs, "budgets", nil, &b)
	if o := b.Owner; o == nil || !o.InForce || o.ID != ev.ID || o.Owner != ownerPub || o.PerDaySats != 40 || o.SpentTodaySats != 0 || o.LeftTodaySats != 40 {
		t.Fatalf("owner's authorization %+v", b.Owner)
	}
	if msg, failed := callErr(t, cs, "ask_model", map[string]any{"model": "tiny", "prompt": "hi", "max_tokens": 200_000}, nil); !failed {
		t.Fatal("a reserve over the owner's 40 sats was paid")
	} else if !strings.Contains(msg, "per day") {
		t.Fatalf("refused for another reason: %s", msg)
	}
	var a mcpserver.AskOut
	call(t, cs, "ask_model", map[string]any{"model": "tiny", "prompt": "hi", "max_tokens": 10}, &a)
	call(t, cs, "budgets", nil, &b)
	if o := b.Owner; o.SpentTodaySats == 0 || o.SpentTodaySats > 40 || o.LeftTodaySats != 40-o.SpentTodaySats {
		t.Fatalf("after a paid question: %+v", o)
	}
}
