package buyer

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/sovmesh/sovmesh/agentd/agentdtest"
	"github.com/sovmesh/sovmesh/market/pay/cashu"
)

// TestStepsPaidFromPreparedProofs: the buyer splits its proofs into its
// payment steps before a put and before a get, so every step paid during
// the transfer hands out proofs as they are (no swap at the mint while
// the provider waits, no wait for another send's change), and the money
// adds up: the file comes back whole and nothing is left reserved.
func TestStepsPaidFromPreparedProofs(t *testing.T) {
	ctx := t.Context()
	net := agentdtest.Start(t)
	for _, name := range []string{"p0", "p1"} {
		startProvider(t, net, name, storageCfg(2_000_000))
	}
	bn := net.Node(t, "buyer", 100_000)
	b, err := New(ctx, bn, Config{Replicas: 2, StorageDuration: 24 * time.Hour, StepBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 6<<20)
	rand.Read(data)
	e, err := b.Put(ctx, bytes.NewReader(data), "f", int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSendsExact(t, bn.Wallet, "put", 0)
	ops, err := bn.Wallet.Journal().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := ops[len(ops)-1].ID
	var out bytes.Buffer
	if _, err := b.Get(ctx, e.Root, &out, nil); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("get: %v (%d of %d bytes, equal %v)", err, out.Len(), len(data), bytes.Equal(out.Bytes(), data))
	}
	checkSendsExact(t, bn.Wallet, "get", after)
}

// checkSendsExact fails unless the wallet made at least two sends after op
// id from, every one of them from proofs as they are (no swap outputs).
func checkSendsExact(t *testing.T, w *cashu.Wallet, what string, from int64) {
	t.Helper()
	ops, err := w.Journal().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sends, swapped := 0, 0
	for _, op := range ops {
		if op.ID <= from || op.Kind != cashu.KindSend {
			continue
		}
		sends++
		var d struct {
			Outputs []json.RawMessage `json:"outputs"`
		}
		if err := json.Unmarshal(op.Data, &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Outputs) > 0 {
			swapped++
		}
	}
	if sends < 2 || swapped > 0 {
		t.Fatalf("%s: %d sends, %d of them swapped at the mint; want >= 2, none swapped", what, sends, swapped)
	}
}
