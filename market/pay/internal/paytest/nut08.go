package paytest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	gcashu "github.com/elnosh/gonuts/cashu"
	"github.com/elnosh/gonuts/cashu/nuts/nut05"
	"github.com/elnosh/gonuts/crypto"
	"github.com/elnosh/gonuts/mint/storage/sqlite"

	"github.com/sovmesh/sovmesh/market/pay/devmint"
)

// NUT08Mint is a stand-in for the one thing gonuts v0.4.2's mint lacks and
// no mint that runs here has: NUT-08 change on melts. It forwards every
// request to a real dev mint. When a melt is paid and its request carried
// blank outputs, it returns the whole fee reserve as change (the fake
// Lightning backend pays no routing fee), signed with the mint's own keyset,
// in the melt's answer and in later checks of that quote, as a NUT-08 mint
// does. The change is real ecash: the mint accepts it in a swap.
type NUT08Mint struct {
	URL string
	// Forge, set before the melt, makes the change's DLEQ proofs (NUT-12)
	// false, as a mint that signs with another key than it announces would.
	Forge bool

	t      testing.TB
	target string
	keys   *crypto.MintKeyset
	rp     *httputil.ReverseProxy
	mu     sync.Mutex
	change map[string]gcashu.BlindedSignatures // by quote
	outs   map[string]gcashu.BlindedMessages   // blank outputs by quote
}

// StartNUT08Mint runs the stand-in in front of m, whose keyset charges ppk
// (as given to devmint.Options.InputFeePpk).
func StartNUT08Mint(t testing.TB, m *devmint.Mint, ppk uint) *NUT08Mint {
	t.Helper()
	db, err := sqlite.InitSQLite(m.Dir())
	if err != nil {
		t.Fatalf("paytest: open the mint's database: %v", err)
	}
	seed, err := db.GetSeed()
	db.Close()
	if err != nil {
		t.Fatalf("paytest: mint seed: %v", err)
	}
	master, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := crypto.GenerateKeyset(master, 0, ppk)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(m.URL())
	if err != nil {
		t.Fatal(err)
	}
	n := &NUT08Mint{t: t, target: m.URL(), keys: keys, rp: httputil.NewSingleHostReverseProxy(u),
		change: make(map[string]gcashu.BlindedSignatures), outs: make(map[string]gcashu.BlindedMessages)}
	srv := httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(srv.Close)
	n.URL = srv.URL
	// The keyset derived here must be the one the mint signs with.
	res, err := http.Get(m.URL() + "/v1/keysets")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Contains(body, []byte(keys.Id)) {
		t.Fatalf("paytest: derived keyset %s is not the mint's: %s", keys.Id, body)
	}
	return n
}

func (n *NUT08Mint) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/melt/bolt11":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req nut05.PostMeltBolt11Request
		if err := json.Unmarshal(body, &req); err == nil && len(req.Outputs) > 0 {
			n.mu.Lock()
			n.outs[req.Quote] = req.Outputs
			n.mu.Unlock()
		}
		n.forward(w, http.MethodPost, "/v1/melt/bolt11", body)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/melt/quote/bolt11/"):
		n.forward(w, http.MethodGet, r.URL.Path, nil)
	default:
		n.rp.ServeHTTP(w, r)
	}
}

// forward sends the request to the mint and adds the change to a paid
// melt's answer.
func (n *NUT08Mint) forward(w http.ResponseWriter, method, path string, body []byte) {
	req, err := http.NewRequest(method, n.target+path, bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	var q nut05.PostMeltQuoteBolt11Response
	if res.StatusCode == http.StatusOK && json.Unmarshal(out, &q) == nil && q.State == nut05.Paid {
		if q.Change = n.changeFor(q.Quote, q.FeeReserve); len(q.Change) > 0 {
			if b, err := json.Marshal(&q); err == nil {
				out = b
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(res.StatusCode)
	w.Write(out)
}

// changeFor signs, once per quote, the whole reserve onto the quote's blank
// outputs, in the amounts of its canonical split.
func (n *NUT08Mint) changeFor(quote string, reserve uint64) gcashu.BlindedSignatures {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.change[quote]; ok {
		return c
	}
	outs := n.outs[quote]
	amounts := gcashu.AmountSplit(reserve)
	if len(outs) == 0 || len(amounts) > len(outs) {
		return nil
	}
	var sigs gcashu.BlindedSignatures
	for i, a := range amounts {
		b, err := hex.DecodeString(outs[i].B_)
		if err != nil {
			n.t.Errorf("paytest: blank output %d: %v", i, err)
			return nil
		}
		B, err := secp256k1.ParsePubKey(b)
		if err != nil {
			n.t.Errorf("paytest: blank output %d: %v", i, err)
			return nil
		}
		k := n.keys.Keys[a].PrivateKey
		C := crypto.SignBlindedMessage(B, k)
		e, s := crypto.GenerateDLEQ(k, B, C) // NUT-12, as the mint gives on its own signatures
		dleq := &gcashu.DLEQProof{E: hex.EncodeToString(e.Serialize()), S: hex.EncodeToString(s.Serialize())}
		if n.Forge {
			dleq.S = hex.EncodeToString(k.Serialize()) // a proof that does not hold
		}
		sigs = append(sigs, gcashu.BlindedSignature{Amount: a, C_: hex.EncodeToString(C.SerializeCompressed()), Id: n.keys.Id, DLEQ: dleq})
	}
	n.change[quote] = sigs
	return sigs
}
