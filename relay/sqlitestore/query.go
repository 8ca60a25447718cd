package sqlitestore

import (
	"encoding/hex"
	"encoding/json"
	"math"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/eventsql"
)

// listInline is the longest value list bound as separate parameters; longer
// lists are passed as one JSON array of hex strings (json_each + unhex), so
// filters with thousands of ids, authors or tag values need no chunking and
// never reach SQLite's parameter limit.
const listInline = 32

// plan is a filter compiled to SQL.
type plan struct {
	sql   string
	args  []any
	empty bool // the filter matches nothing; no query needed
	// dedupe: rows may repeat (a tag driver with several values); repeats are
	// adjacent because rows are ordered by (created_at DESC, id), and the
	// second column holds the id to compare.
	dedupe bool
	limit  int // 0: none; with dedupe the SQL limit is an upper bound and this one is exact
}

// builder is the shared statement builder ("?" placeholders) with
// SQLite's ways of binding lists and limits.
type builder struct{ *eventsql.Builder }

// limit writes "LIMIT ? + 0". With a bare "LIMIT ?", SQLite (as bundled by
// modernc.org/sqlite v1.60) reads the bound value while planning
// (sqlite3ExprIsInteger) and marks the statement to be prepared again
// whenever that parameter is bound, so every run of a cached statement
// recompiled it: about 9 µs a query, a tenth of the relay's CPU under REQ
// load. An expression is evaluated only when the statement runs.
func (b *builder) limit(n int64) {
	b.W(" LIMIT ")
	b.Arg(n)
	b.W(" + 0")
}

// inBlobs writes "col IN (...)" for 32-byte values.
func (b *builder) inBlobs(col string, vals [][]byte) {
	b.W(col)
	if len(vals) == 1 {
		b.W(" = ")
		b.Arg(vals[0])
		return
	}
	if len(vals) > listInline {
		hexes := make([]string, len(vals))
		for i, v := range vals {
			hexes[i] = hex.EncodeToString(v)
		}
		j, _ := json.Marshal(hexes)
		b.W(" IN (SELECT unhex(value) FROM json_each(")
		b.Arg(string(j))
		b.W("))")
		return
	}
	b.W(" IN (")
	for i, v := range vals {
		if i > 0 {
			b.W(", ")
		}
		b.Arg(v)
	}
	b.W(")")
}

// inStrings writes "col IN (...)" for text values. Long lists travel as hex
// so any bytes (not only valid UTF-8) compare exactly.
func (b *builder) inStrings(col string, vals []string) {
	b.W(col)
	if len(vals) == 1 {
		b.W(" = ")
		b.Arg(vals[0])
		return
	}
	if len(vals) > listInline {
		hexes := make([]string, len(vals))
		for i, v := range vals {
			hexes[i] = hex.EncodeToString([]byte(v))
		}
		j, _ := json.Marshal(hexes)
		b.W(" IN (SELECT CAST(unhex(value) AS TEXT) FROM json_each(")
		b.Arg(string(j))
		b.W("))")
		return
	}
	b.W(" IN (")
	for i, v := range vals {
		if i > 0 {
			b.W(", ")
		}
		b.Arg(v)
	}
	b.W(")")
}

// tagWeight scales a tag's value count when choosing which condition drives
// a query: d, k and t values are shared by many events.
func tagWeight(name string) int {
	switch name {
	case "d", "k":
		return 8
	case "t":
		return 4
	}
	return 1
}

// driverTag picks the tag condition that drives the query, or -1 when an
// events index should drive it instead.
func driverTag(spec eventsql.Filter) int {
	if len(spec.Tags) == 0 || spec.HasIDs {
		return -1
	}
	best, bestScore := -1, math.MaxInt
	for i, t := range spec.Tags {
		if s := len(t.Values) * tagWeight(t.Name); s < bestScore {
			best, bestScore = i, s
		}
	}
	if spec.HasAuthors && tagWeight(spec.Tags[best].Name) > 1 {
		// "authors + kinds + #d" is the addressable lookup (NIP-09 a tags,
		// replacement); the author's own events are the smaller set.
		return -1
	}
	return best
}

// selectMode says what a compiled statement returns.
type selectMode int

const (
	selectRows  selectMode = iota // rows of (raw, id) in answer order
	selectCount                   // one row: the number of matching events
	selectSeqs                    // the seq of each matching event, once, in no order, no limit
	selectIDs                     // rows of (created_at, id) in answer order, from the indexes
)

// compile turns f into one SQL statement returning what mode says.
func compile(f nostr.Filter, now int64, mode selectMode) (plan, error) {
	count := mode == selectCount || mode == selectSeqs
	// indexOnly: no column of the event's row is read, expiry included.
	indexOnly := mode != selectRows
	spec, empty, err := eventsql.Normalize(f)
	if err != nil {
		return plan{}, err
	}
	if empty {
		return plan{empty: true}, nil
	}
	b := builder{eventsql.NewBuilder(eventsql.Question)}
	p := plan{limit: spec.Limit}
	d := driverTag(spec)
	if d >= 0 {
		t := spec.Tags[d]
		switch {
		case mode == selectSeqs:
			b.W("SELECT DISTINCT t.seq")
		case count:
			b.W("SELECT count(DISTINCT t.seq)")
		case mode == selectIDs:
			b.W("SELECT t.created_at, t.id")
		default:
			b.W("SELECT e.raw, t.id")
		}
		b.W(" FROM tags t")
		if len(spec.Kinds) == 1 && spec.Kinds[0] == 5 {
			b.W(" INDEXED BY tags_kind5")
		}
		b.W(" CROSS JOIN events e ON e.seq = t.seq WHERE t.name = ")
		b.Arg(t.Name)
		b.W(" AND ")
		b.inStrings("t.value", t.Values)
		b.KindTime("t", spec)
		writeEventConds(b, spec, d, now, false, indexOnly)
		if !count {
			b.W(" ORDER BY t.created_at DESC, t.id")
			if len(t.Values) > 1 {
				p.dedupe = true
				if spec.Limit > 0 && spec.Limit <= math.MaxInt64/len(t.Values) {
					b.limit(int64(spec.Limit * len(t.Values)))
				}
			} else if spec.Limit > 0 {
				b.limit(int64(spec.Limit))
			}
		}
	} else {
		switch {
		case mode == selectSeqs:
			b.W("SELECT e.seq")
		case count:
			b.W("SELECT count(*)")
		case mode == selectIDs:
			b.W("SELECT e.created_at, e.id")
		default:
			b.W("SELECT e.raw, e.id")
		}
		b.W(" FROM events e INDEXED BY ")
		switch {
		case spec.HasIDs:
			b.W("events_id")
		case spec.HasAuthors && spec.HasKinds:
			b.W("events_pubkey_kind")
		case spec.HasAuthors:
			b.W("events_pubkey")
		case spec.HasKinds:
			b.W("events_kind")
		default:
			b.W("events_created")
		}
		b.W(" WHERE 1")
		writeEventConds(b, spec, -1, now, true, indexOnly)
		if !count {
			b.W(" ORDER BY e.created_at DESC, e.id")
			if spec.Limit > 0 {
				b.limit(int64(spec.Limit))
			}
		}
	}
	p.sql = b.SQL()
	p.args = b.Args()
	return p, nil
}

// writeEventConds writes the conditions on events e and on the tags other
// than the driving one (skip). withTimeKind adds kinds, since and until,
// which a tag driver already applies on t. expiryByIndex checks NIP-40
// expiration against the small partial index of expiring events instead of
// each matching row, so a count or a negentropy scan walks only its index
// and never reads the events' rows.
func writeEventConds(b builder, spec eventsql.Filter, skip int, now int64, withTimeKind, expiryByIndex bool) {
	if spec.HasIDs {
		b.W(" AND ")
		b.inBlobs("e.id", spec.IDs)
	}
	if spec.HasAuthors {
		b.W(" AND ")
		b.inBlobs("e.pubkey", spec.Authors)
	}
	if withTimeKind {
		b.KindTime("e", spec)
	}
	for i, t := range spec.Tags {
		if i == skip {
			continue
		}
		b.W(" AND EXISTS (SELECT 1 FROM tags x INDEXED BY tags_seq WHERE x.seq = e.seq AND x.name = ")
		b.Arg(t.Name)
		b.W(" AND ")
		b.inStrings("x.value", t.Values)
		b.W(")")
	}
	if expiryByIndex {
		b.W(" AND e.seq NOT IN (SELECT seq FROM events INDEXED BY events_expires WHERE expires_at IS NOT NULL AND expires_at <= ")
		b.Arg(now)
		b.W(")")
		return
	}
	b.W(" AND (e.expires_at IS NULL OR e.expires_at > ")
	b.Arg(now)
	b.W(")")
}
