package sqlitestore

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nbd-wtf/go-nostr"
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

// filterSpec is a filter normalized for SQL: hex decoded, duplicates removed.
type filterSpec struct {
	ids, authors [][]byte
	hasIDs       bool
	hasAuthors   bool
	kinds        []int
	hasKinds     bool
	tags         []tagCond
	since, until *int64
	limit        int
}

type tagCond struct {
	name   string
	values []string
}

// normalize checks f and reduces it to what SQL needs. empty reports a filter
// that matches nothing (a non-nil empty list, or no valid id/pubkey left).
func normalize(f nostr.Filter) (spec filterSpec, empty bool, err error) {
	keys := make([]string, 0, len(f.Tags))
	for k, v := range f.Tags {
		if v == nil {
			continue // a nil list matches everything, as in Filter.Matches
		}
		if !isIndexedTag(k) && len(v) > 0 {
			return spec, false, fmt.Errorf("%w: tag %q: only single-letter tags can be queried", ErrUnsupportedFilter, clip(k))
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := f.Tags[k]
		if len(v) == 0 {
			return spec, true, nil
		}
		spec.tags = append(spec.tags, tagCond{name: k, values: uniqueStrings(v)})
	}
	if f.IDs != nil {
		spec.hasIDs = true
		spec.ids = decodeAll(f.IDs)
		if len(spec.ids) == 0 {
			return spec, true, nil
		}
	}
	if f.Authors != nil {
		spec.hasAuthors = true
		spec.authors = decodeAll(f.Authors)
		if len(spec.authors) == 0 {
			return spec, true, nil
		}
	}
	if f.Kinds != nil {
		if len(f.Kinds) == 0 {
			return spec, true, nil
		}
		spec.hasKinds = true
		spec.kinds = slices.Clone(f.Kinds)
		slices.Sort(spec.kinds)
		spec.kinds = slices.Compact(spec.kinds)
	}
	if f.Since != nil {
		v := int64(*f.Since)
		spec.since = &v
	}
	if f.Until != nil {
		v := int64(*f.Until)
		spec.until = &v
	}
	if spec.since != nil && spec.until != nil && *spec.since > *spec.until {
		return spec, true, nil
	}
	if f.Limit > 0 {
		spec.limit = f.Limit
	}
	return spec, false, nil
}

// decodeAll decodes the valid 64-hex strings of list, dropping the rest (no
// stored id or pubkey can equal them) and duplicates.
func decodeAll(list []string) [][]byte {
	out := make([][]byte, 0, len(list))
	seen := make(map[string]struct{}, len(list))
	for _, s := range list {
		if _, ok := seen[s]; ok {
			continue
		}
		seen[s] = struct{}{}
		if b, ok := decodeHex32(s); ok {
			out = append(out, b)
		}
	}
	return out
}

func uniqueStrings(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return slices.Compact(out)
}

// builder accumulates SQL text and its arguments.
type builder struct {
	sb   strings.Builder
	args []any
}

func (b *builder) w(s string) { b.sb.WriteString(s) }

func (b *builder) arg(v any) {
	b.sb.WriteByte('?')
	b.args = append(b.args, v)
}

// limit writes "LIMIT ? + 0". With a bare "LIMIT ?", SQLite (as bundled by
// modernc.org/sqlite v1.60) reads the bound value while planning
// (sqlite3ExprIsInteger) and marks the statement to be prepared again
// whenever that parameter is bound, so every run of a cached statement
// recompiled it: about 9 µs a query, a tenth of the relay's CPU under REQ
// load. An expression is evaluated only when the statement runs.
func (b *builder) limit(n int64) {
	b.w(" LIMIT ")
	b.arg(n)
	b.w(" + 0")
}

// inBlobs writes "col IN (...)" for 32-byte values.
func (b *builder) inBlobs(col string, vals [][]byte) {
	b.w(col)
	if len(vals) == 1 {
		b.w(" = ")
		b.arg(vals[0])
		return
	}
	if len(vals) > listInline {
		hexes := make([]string, len(vals))
		for i, v := range vals {
			hexes[i] = hex.EncodeToString(v)
		}
		j, _ := json.Marshal(hexes)
		b.w(" IN (SELECT unhex(value) FROM json_each(")
		b.arg(string(j))
		b.w("))")
		return
	}
	b.w(" IN (")
	for i, v := range vals {
		if i > 0 {
			b.w(", ")
		}
		b.arg(v)
	}
	b.w(")")
}

// inStrings writes "col IN (...)" for text values. Long lists travel as hex
// so any bytes (not only valid UTF-8) compare exactly.
func (b *builder) inStrings(col string, vals []string) {
	b.w(col)
	if len(vals) == 1 {
		b.w(" = ")
		b.arg(vals[0])
		return
	}
	if len(vals) > listInline {
		hexes := make([]string, len(vals))
		for i, v := range vals {
			hexes[i] = hex.EncodeToString([]byte(v))
		}
		j, _ := json.Marshal(hexes)
		b.w(" IN (SELECT CAST(unhex(value) AS TEXT) FROM json_each(")
		b.arg(string(j))
		b.w("))")
		return
	}
	b.w(" IN (")
	for i, v := range vals {
		if i > 0 {
			b.w(", ")
		}
		b.arg(v)
	}
	b.w(")")
}

// inInts writes "col IN (...)" with the integers inline: they are plain
// numbers, and literal values let SQLite use the partial kind-5 index.
func (b *builder) inInts(col string, vals []int) {
	b.w(col)
	if len(vals) == 1 {
		b.w(" = ")
		b.w(strconv.Itoa(vals[0]))
		return
	}
	b.w(" IN (")
	for i, v := range vals {
		if i > 0 {
			b.w(", ")
		}
		b.w(strconv.Itoa(v))
	}
	b.w(")")
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
func driverTag(spec filterSpec) int {
	if len(spec.tags) == 0 || spec.hasIDs {
		return -1
	}
	best, bestScore := -1, math.MaxInt
	for i, t := range spec.tags {
		if s := len(t.values) * tagWeight(t.name); s < bestScore {
			best, bestScore = i, s
		}
	}
	if spec.hasAuthors && tagWeight(spec.tags[best].name) > 1 {
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
)

// compile turns f into one SQL statement returning what mode says.
func compile(f nostr.Filter, now int64, mode selectMode) (plan, error) {
	count := mode != selectRows
	spec, empty, err := normalize(f)
	if err != nil {
		return plan{}, err
	}
	if empty {
		return plan{empty: true}, nil
	}
	var b builder
	p := plan{limit: spec.limit}
	d := driverTag(spec)
	if d >= 0 {
		t := spec.tags[d]
		switch {
		case mode == selectSeqs:
			b.w("SELECT DISTINCT t.seq")
		case count:
			b.w("SELECT count(DISTINCT t.seq)")
		default:
			b.w("SELECT e.raw, t.id")
		}
		b.w(" FROM tags t")
		if len(spec.kinds) == 1 && spec.kinds[0] == 5 {
			b.w(" INDEXED BY tags_kind5")
		}
		b.w(" CROSS JOIN events e ON e.seq = t.seq WHERE t.name = ")
		b.arg(t.name)
		b.w(" AND ")
		b.inStrings("t.value", t.values)
		if spec.hasKinds {
			b.w(" AND ")
			b.inInts("t.kind", spec.kinds)
		}
		if spec.since != nil {
			b.w(" AND t.created_at >= ")
			b.arg(*spec.since)
		}
		if spec.until != nil {
			b.w(" AND t.created_at <= ")
			b.arg(*spec.until)
		}
		writeEventConds(&b, spec, d, now, false, count)
		if !count {
			b.w(" ORDER BY t.created_at DESC, t.id")
			if len(t.values) > 1 {
				p.dedupe = true
				if spec.limit > 0 && spec.limit <= math.MaxInt64/len(t.values) {
					b.limit(int64(spec.limit * len(t.values)))
				}
			} else if spec.limit > 0 {
				b.limit(int64(spec.limit))
			}
		}
	} else {
		switch {
		case mode == selectSeqs:
			b.w("SELECT e.seq")
		case count:
			b.w("SELECT count(*)")
		default:
			b.w("SELECT e.raw, e.id")
		}
		b.w(" FROM events e INDEXED BY ")
		switch {
		case spec.hasIDs:
			b.w("events_id")
		case spec.hasAuthors && spec.hasKinds:
			b.w("events_pubkey_kind")
		case spec.hasAuthors:
			b.w("events_pubkey")
		case spec.hasKinds:
			b.w("events_kind")
		default:
			b.w("events_created")
		}
		b.w(" WHERE 1")
		writeEventConds(&b, spec, -1, now, true, count)
		if !count {
			b.w(" ORDER BY e.created_at DESC, e.id")
			if spec.limit > 0 {
				b.limit(int64(spec.limit))
			}
		}
	}
	p.sql = b.sb.String()
	p.args = b.args
	return p, nil
}

// writeEventConds writes the conditions on events e and on the tags other
// than the driving one (skip). withTimeKind adds kinds, since and until,
// which a tag driver already applies on t. expiryByIndex checks NIP-40
// expiration against the small partial index of expiring events instead of
// each matching row, so a count or a negentropy scan walks only its index
// and never reads the events' rows.
func writeEventConds(b *builder, spec filterSpec, skip int, now int64, withTimeKind, expiryByIndex bool) {
	if spec.hasIDs {
		b.w(" AND ")
		b.inBlobs("e.id", spec.ids)
	}
	if spec.hasAuthors {
		b.w(" AND ")
		b.inBlobs("e.pubkey", spec.authors)
	}
	if withTimeKind {
		if spec.hasKinds {
			b.w(" AND ")
			b.inInts("e.kind", spec.kinds)
		}
		if spec.since != nil {
			b.w(" AND e.created_at >= ")
			b.arg(*spec.since)
		}
		if spec.until != nil {
			b.w(" AND e.created_at <= ")
			b.arg(*spec.until)
		}
	}
	for i, t := range spec.tags {
		if i == skip {
			continue
		}
		b.w(" AND EXISTS (SELECT 1 FROM tags x INDEXED BY tags_seq WHERE x.seq = e.seq AND x.name = ")
		b.arg(t.name)
		b.w(" AND ")
		b.inStrings("x.value", t.values)
		b.w(")")
	}
	if expiryByIndex {
		b.w(" AND e.seq NOT IN (SELECT seq FROM events INDEXED BY events_expires WHERE expires_at IS NOT NULL AND expires_at <= ")
		b.arg(now)
		b.w(")")
		return
	}
	b.w(" AND (e.expires_at IS NULL OR e.expires_at > ")
	b.arg(now)
	b.w(")")
}
