package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd"
	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/agentd/buyer"
	"github.com/sovmesh/sovmesh/agentd/provider"
	"github.com/sovmesh/sovmesh/agentd/safebox"
	"github.com/sovmesh/sovmesh/agentd/state"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
	"github.com/sovmesh/sovmesh/market/pay/devmint"
	"github.com/sovmesh/sovmesh/market/pay/fees"
	"github.com/sovmesh/sovmesh/market/pay/journal"
	"github.com/sovmesh/sovmesh/nips"
	"github.com/sovmesh/sovmesh/relay"
	"github.com/sovmesh/sovmesh/relay/marketplace"
	"github.com/sovmesh/sovmesh/relay/relaytest"
)

// Relay fees in this test, sats per event.
const (
	offerFee = 1
	bidFee   = 1
)

type prov struct {
	node *agentd.Node
	p    *provider.Provider
	stop context.CancelFunc
	done chan struct{}
	once sync.Once
}

func (p *prov) kill() {
	p.once.Do(func() { p.stop(); <-p.done; _ = p.node.Host.Close() })
}

func TestEndToEnd(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()

	// The dev mint (TEST MONEY; its keyset charges an input fee of 100 ppk,
	// so every swap costs at least a sat) and a relay whose operator
	// charges for offers and bids.
	mint, err := devmint.Start(ctx, filepath.Join(dir, "mint"), devmint.Options{InputFeePpk: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mint.Shutdown(context.Background()) })
	rj, err := journal.Open(ctx, filepath.Join(dir, "relay-pay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer rj.Close()
	rwc := cashu.DefaultConfig()
	rwc.Mints = []string{mint.URL()}
	// The relay's wallet is on the relay's key, as meshrelay's: the
	// agents' top-ups are locked to the NIP-11 pubkey.
	relayDir := filepath.Join(dir, "relay")
	if err := os.MkdirAll(relayDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if rwc.PrivateKey, err = relay.LoadOrCreateKey(relayDir); err != nil {
		t.Fatal(err)
	}
	relayWallet, err := cashu.Open(ctx, rj, rwc)
	if err != nil {
		t.Fatal(err)
	}
	col, err := fees.New(rj, relayWallet, fees.Config{
		Publication: map[int]uint64{nips.KindOffer: offerFee, nips.KindBid: bidFee},
		Matching:    map[int]uint64{},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := relaytest.New(t, func(c *relay.Config) { c.DataDir = relayDir }, marketplace.FeeOptions(col, []string{mint.URL()}, true)...)
	net0 := &agentdtest.Net{Relay: srv.URL, Mint: mint, Dir: dir}

	// The stand-in language model and a TCP echo target for SOCKS.
	words := strings.Fields("sats flow from buyer to provider and the change comes back")
	llm := agentdtest.StartLLM(t, "standin-1", words, 2*time.Millisecond)
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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

	// Three providers: all sell storage; the first also inference, the
	// second bandwidth. Zero-touch: no mint given, they take the relay's.
	cfgs := []provider.Config{
		{Storage: &provider.StorageConfig{Quota: 1 << 30, PriceMsat: 2_000_000}, Inference: &provider.InferenceConfig{URL: llm.URL, PriceInMsat: 1_000_000, PriceOutMsat: 2_000_000}},
		{Storage: &provider.StorageConfig{Quota: 1 << 30, PriceMsat: 3_000_000}, Bandwidth: &provider.BandwidthConfig{PriceMsat: 1000, AllowPrivateTargets: true}},
		{Storage: &provider.StorageConfig{Quota: 1 << 30, PriceMsat: 2_500_000}},
	}
	var provs []*prov
	before := map[string]uint64{}
	for i, pc := range cfgs {
		c := net0.Config("provider" + string(rune('1'+i)))
		c.Mints = nil
		nd, err := agentd.Open(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		defer nd.Close()
		if len(nd.Config.Mints) != 1 || nd.Config.Mints[0] != mint.URL() {
			t.Fatalf("zero-touch mint discovery: %v", nd.Config.Mints)
		}
		if err := nd.Wallet.Fund(ctx, 100); err != nil { // for relay fees
			t.Fatal(err)
		}
		before[nd.Key.Pubkey], _ = nd.Wallet.Balance(ctx)
		p, err := provider.New(nd, pc)
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(context.Background())
		pr := &prov{node: nd, p: p, stop: cancel, done: make(chan struct{})}
		errc := make(chan error, 1)
		go func() { defer close(pr.done); errc <- p.Run(rctx) }()
		t.Cleanup(pr.kill)
		provs = append(provs, pr)
		waitReady(t, pr, errc)
	}

	bn := net0.Node(t, "buyer", 3000)
	buyBefore, _ := bn.Wallet.Balance(ctx)
	b, err := buyer.New(ctx, bn, buyer.Config{StorageDuration: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	// 1. Store a file, kill one provider, get the file back intact.
	data := make([]byte, 2<<20+777)
	rand.Read(data)
	ent, err := b.Put(ctx, bytes.NewReader(data), "e2e.bin", int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ent.Providers) != 3 {
		t.Fatalf("stored on %d providers", len(ent.Providers))
	}
	provs[2].kill()
	var got bytes.Buffer
	if _, err := b.Get(ctx, ent.Root, &got, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("file came back different")
	}

	// 2. Inference through the local OpenAI-compatible endpoint.
	ep, err := b.ServeOpenAI("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Shutdown(context.Background())
	resp, err := http.Post(ep.URL()+"/chat/completions", "application/json",
		strings.NewReader(`{"model":"standin-1","stream":true,"messages":[{"role":"user","content":"hello"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var answer strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || line == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct{ Delta struct{ Content string } } `json:"choices"`
		}
		json.Unmarshal([]byte(line), &c)
		for _, ch := range c.Choices {
			answer.WriteString(ch.Delta.Content)
		}
	}
	resp.Body.Close()
	if answer.String() != strings.Join(words, " ") {
		t.Fatalf("answer %q", answer.String())
	}

	// 3. Relay bytes through SOCKS5.
	socks, saddr, err := b.ServeSOCKS("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer socks.Shutdown()
	c, err := net.Dial("tcp", saddr.String())
	if err != nil {
		t.Fatal(err)
	}
	ea := echo.Addr().(*net.TCPAddr)
	c.Write([]byte{5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, byte(ea.Port >> 8), byte(ea.Port)})
	var rep [12]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil || rep[3] != 0 {
		t.Fatalf("socks: %v %v", rep, err)
	}
	msg := make([]byte, 1<<20)
	rand.Read(msg)
	go c.Write(msg)
	back := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, back); err != nil || !bytes.Equal(back, msg) {
		t.Fatalf("socks echo: %v", err)
	}
	c.Close()
	socks.Shutdown()
	b.Close(ctx) // settle: receipts, attestations, reclaims

	// 4. Sats are conserved. Every payer puts the payee's swap fee in its
	// token (cashu.SendOptions.IncludeFees) and pays its own swap's fee, so
	// a payee's balance rises by exactly the price and the mint fees of a
	// payment are the payer's, in its ledger line's Fee (Totals.Fees). The
	// buyer's spend is then the providers' earnings (earn - change: what
	// they net from the buyer's tokens less the change they sent back)
	// plus the relay fees plus the mint fees of the buyer's own payments
	// (the refunds of unused credit, collected, are change).
	// The providers' mint fees (on change and on their relay fees) come out
	// of their own balances: checked below, with the whole system's.
	var buyAfter, earned, mintFees uint64
	var bt state.Totals
	for range 50 { // the last redeemed step may still be being recorded
		// Each provider refunds a closed session's unused credit in a
		// change note, which the buyer collects.
		_, _ = b.CollectChange(ctx)
		buyAfter, _ = bn.Wallet.Balance(ctx)
		bt, _ = bn.DB.Totals(ctx, time.Time{})
		mintFees = bt.Fees
		earned = 0
		for _, p := range provs {
			pt, _ := p.node.DB.Totals(ctx, time.Time{})
			earned += pt.Net()
		}
		if buyBefore-buyAfter == earned+relayFees(t, bn)+mintFees && bt.NetSpent()+bt.Fees == buyBefore-buyAfter {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	spent := buyBefore - buyAfter
	bFees := relayFees(t, bn)
	t.Logf("buyer spent %d sats = providers earned %d + relay fees %d + mint fees %d", spent, earned, bFees, mintFees)
	if spent != earned+bFees+mintFees {
		t.Fatalf("not conserved: buyer spent %d, providers earned %d, relay fees %d, mint fees %d", spent, earned, bFees, mintFees)
	}
	if bt.NetSpent()+bt.Fees != spent {
		t.Fatalf("buyer's ledger: net spend %d + mint fees %d, wallet spent %d", bt.NetSpent(), bt.Fees, spent)
	}
	if mintFees == 0 {
		t.Fatal("no mint fees recorded with a fee-charging keyset")
	}
	if bFees < 3*bidFee {
		t.Fatalf("buyer paid %d sats of relay fees for at least 3 bids", bFees)
	}
	// Cross-check the ledgers against the wallets: each provider's balance
	// moved by its earnings less the relay fees and the mint fees it paid;
	// the relay's wallet holds every fee.
	var providerFees, providerMintFees, providersBefore, providersAfter uint64
	for _, p := range provs {
		pt, _ := p.node.DB.Totals(ctx, time.Time{})
		pf := relayFees(t, p.node)
		providerFees += pf
		providerMintFees += pt.Fees
		after, _ := p.node.Wallet.Balance(ctx)
		providersBefore += before[p.node.Key.Pubkey]
		providersAfter += after
		if after+pf+pt.Fees != before[p.node.Key.Pubkey]+pt.Net() {
			t.Fatalf("provider %s: balance %d -> %d, earned %d, relay fees %d, mint fees %d", p.node.Key.Pubkey[:8], before[p.node.Key.Pubkey], after, pt.Net(), pf, pt.Fees)
		}
	}
	// The relay's wallet started empty and holds exactly the fees paid.
	relayAfter, _ := relayWallet.Balance(ctx)
	if relayAfter != bFees+providerFees {
		t.Fatalf("relay wallet holds %d sats, fees paid: buyer %d + providers %d", relayAfter, bFees, providerFees)
	}
	// What left all the wallets went to the mint, as the ledgers say.
	if gone := buyBefore + providersBefore - buyAfter - providersAfter - relayAfter; gone != mintFees+providerMintFees {
		t.Fatalf("%d sats left the wallets, the ledgers record %d + %d of mint fees", gone, mintFees, providerMintFees)
	}
	t.Logf("mint fees: buyer %d, providers %d", mintFees, providerMintFees)
	// Receipts: the storage sessions were countersigned.
	ss, _ := bn.DB.Sessions(ctx, 50)
	signed := 0
	for _, s := range ss {
		if s.Role == state.RoleBuyer && s.ReceiptID != "" {
			signed++
		}
	}
	if signed < 3 {
		t.Fatalf("%d countersigned receipts", signed)
	}

	// 5. Recover the buyer's key from 3 of 5 shares.
	var contacts []*agentd.Node
	var pubs []string
	for i := range safebox.DefaultShares {
		nd := net0.Node(t, "contact"+string(rune('a'+i)), 0)
		contacts = append(contacts, nd)
		pubs = append(pubs, nd.Key.Pubkey)
	}
	if _, err := bn.Box().SplitKey(ctx, pubs, safebox.DefaultThreshold); err != nil {
		t.Fatal(err)
	}
	rec := net0.Node(t, "recovery", 0)
	for _, cn := range []*agentd.Node{contacts[0], contacts[2], contacts[4]} {
		if err := cn.Box().ReturnShare(ctx, bn.Key.Pubkey, rec.Key.Pubkey); err != nil {
			t.Fatal(err)
		}
	}
	shares, err := rec.Box().Shares(ctx, bn.Key.Pubkey)
	if err != nil || len(shares) != 3 {
		t.Fatalf("%d shares: %v", len(shares), err)
	}
	sk, err := safebox.Recover(shares, bn.Key.Pubkey)
	if err != nil || sk != bn.Key.Secret {
		t.Fatalf("recovery: %v", err)
	}
}

// relayFees returns the relay fees a node paid (ledger).
func relayFees(t *testing.T, n *agentd.Node) uint64 {
	t.Helper()
	ls, err := n.DB.LedgerByResource(context.Background(), agentd.RelayFeeResource)
	if err != nil {
		t.Fatal(err)
	}
	return ls.Spent - min(ls.Refunded, ls.Spent)
}

// waitReady waits until p has published its offers and answers bids.
func waitReady(t *testing.T, p *prov, errc chan error) {
	t.Helper()
	select {
	case <-p.p.Ready():
	case err := <-errc:
		t.Fatalf("provider: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("offers not published")
	}
}
