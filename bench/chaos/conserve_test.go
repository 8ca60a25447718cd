package chaos

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"time"

	_ "modernc.org/sqlite"
)

// ledger is the conservation check's result.
type ledger struct {
	deposited uint64            // mint ops done, over all wallets
	withdrawn uint64            // melt ops done: amount and fees
	spendable map[string]uint64 // wallet -> its unspent proofs the mint says are unspent
	feePpk    uint64            // the mint's keyset input fee
	problems  []string
}

func (l *ledger) problem(format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

func (l *ledger) total() uint64 {
	var s uint64
	for _, v := range l.spendable {
		s += v
	}
	return s
}

type proofRow struct {
	wallet, y, state string
	amount           uint64
	op               int64
}

// conserved reads every wallet's journal (pay.db) and asks the mint
// (NUT-07) for the state of every proof in them: each wallet's spendable
// balance is the proofs it holds as unspent that the mint says are
// unspent. Every deposit (mint op) must be in a spendable balance or
// withdrawn (melt op), exactly: deposited = spendable + withdrawn + mint
// fees. No op may be left open, no payment out, no proof unspent at the
// mint yet not spendable by its wallet.
func (m *market) conserved(wallets []string) ledger {
	l := ledger{spendable: map[string]uint64{}}
	var rows []proofRow
	for _, w := range wallets {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(m.dir, w, "pay.db")+"?mode=ro")
		if err != nil {
			m.t.Fatal(err)
		}
		func() {
			defer db.Close()
			ops, err := db.Query(`SELECT id, kind, state, amount, data FROM ops`)
			if err != nil {
				m.t.Fatalf("%s ops: %v", w, err)
			}
			defer ops.Close()
			for ops.Next() {
				var id int64
				var kind, state, data string
				var amount uint64
				if err := ops.Scan(&id, &kind, &state, &amount, &data); err != nil {
					m.t.Fatal(err)
				}
				var d struct{ Fee, Change uint64 }
				_ = json.Unmarshal([]byte(data), &d)
				switch {
				case state == "prepared" || state == "queued":
					l.problem("%s: %s op %d of %d sats still %s", w, kind, id, amount, state)
				case state == "sent":
					l.problem("%s: payment op %d of %d sats neither delivered nor refunded", w, id, amount)
				case kind == "mint" && state == "done":
					l.deposited += amount
				case kind == "melt" && state == "done":
					l.withdrawn += amount + d.Fee - d.Change
				}
			}
			if err := ops.Err(); err != nil {
				m.t.Fatal(err)
			}
			ps, err := db.Query(`SELECT y, amount, state, op_id FROM proofs`)
			if err != nil {
				m.t.Fatalf("%s proofs: %v", w, err)
			}
			defer ps.Close()
			for ps.Next() {
				r := proofRow{wallet: w}
				if err := ps.Scan(&r.y, &r.amount, &r.state, &r.op); err != nil {
					m.t.Fatal(err)
				}
				rows = append(rows, r)
			}
		}()
	}
	ys := make([]string, len(rows))
	for i, r := range rows {
		ys[i] = r.y
	}
	states, err := checkState(m.mintURL, ys)
	if err != nil {
		m.t.Fatalf("NUT-07 check: %v", err)
	}
	holder := map[string]string{}
	for _, r := range rows {
		st := states[r.y]
		switch {
		case r.state == "unspent" && st == "UNSPENT":
			if h, dup := holder[r.y]; dup {
				l.problem("proof of %d sats held unspent by both %s and %s", r.amount, h, r.wallet)
				continue
			}
			holder[r.y] = r.wallet
			l.spendable[r.wallet] += r.amount
		case r.state == "unspent":
			l.problem("%s: proof of %d sats (op %d) counted in its balance is %s at the mint", r.wallet, r.amount, r.op, st)
		case st == "UNSPENT":
			l.problem("%s: proof of %d sats (op %d) is unspent at the mint but %s in the wallet: not spendable", r.wallet, r.amount, r.op, r.state)
		}
	}
	if l.feePpk, err = inputFee(m.mintURL); err != nil {
		m.t.Fatalf("keysets: %v", err)
	}
	if l.feePpk != 0 {
		// The embedded dev mint charges no input fee; with one, the mint's
		// takings would have to be read from its own database.
		l.problem("the mint charges %d ppk of input fee: this check counts none", l.feePpk)
	}
	if got := l.total() + l.withdrawn; got != l.deposited {
		l.problem("deposited %d sats, but wallets hold %d spendable and %d were withdrawn (%+d)", l.deposited, l.total(), l.withdrawn, int64(got)-int64(l.deposited))
	}
	return l
}

// checkState asks the mint for the state of proofs by Y (NUT-07).
func checkState(mint string, ys []string) (map[string]string, error) {
	out := map[string]string{}
	c := &http.Client{Timeout: 30 * time.Second}
	for i := 0; i < len(ys); i += 500 {
		body, _ := json.Marshal(map[string]any{"Ys": ys[i:min(i+500, len(ys))]})
		resp, err := c.Post(mint+"/v1/checkstate", "application/json", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		var res struct {
			States []struct {
				Y     string `json:"Y"`
				State string `json:"state"`
			} `json:"states"`
		}
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("checkstate: %s %v", resp.Status, err)
		}
		for _, s := range res.States {
			out[s.Y] = s.State
		}
	}
	return out, nil
}

// inputFee returns the largest input_fee_ppk of the mint's keysets.
func inputFee(mint string) (uint64, error) {
	resp, err := http.Get(mint + "/v1/keysets")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var res struct {
		Keysets []struct {
			InputFeePpk uint64 `json:"input_fee_ppk"`
		} `json:"keysets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return 0, err
	}
	var f uint64
	for _, k := range res.Keysets {
		f = max(f, k.InputFeePpk)
	}
	return f, nil
}

// report logs the run: rounds, trades, kills per step, conservation.
func (m *market) report(seed uint64, took time.Duration, l ledger) {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos run: seed %d, %d rounds in %v, %d restarts after kills, %d provider exits (relay gone while it published its offers)\n",
		seed, *rounds, took.Round(time.Second), m.restarts, m.providerExits)
	keys := make([]string, 0, len(m.trades))
	for k := range m.trades {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  trade %-10s ok %d failed %d\n", k, m.trades[k][0], m.trades[k][1])
	}
	steps := map[string]bool{}
	for k := range m.armed {
		steps[k] = true
	}
	for k := range m.kills {
		steps[k] = true
	}
	keys = keys[:0]
	for k := range steps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	total := 0
	for _, k := range keys {
		fmt.Fprintf(&b, "  kill point %-26s armed %3d killed %3d\n", k, m.armed[k], m.kills[k])
		total += m.kills[k]
	}
	fmt.Fprintf(&b, "  kills %d\n", total)
	names := make([]string, 0, len(l.spendable))
	for k := range l.spendable {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  wallet %-10s %d sats\n", n, l.spendable[n])
	}
	fmt.Fprintf(&b, "  deposited %d = spendable %d + withdrawn %d + mint fees 0: %v\n", l.deposited, l.total(), l.withdrawn, l.total()+l.withdrawn == l.deposited)
	fmt.Fprintf(&b, "  problems %d", len(l.problems))
	m.t.Log(b.String())
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
