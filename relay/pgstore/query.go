package pgstore

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nbd-wtf/go-nostr"

	"github.com/sovmesh/sovmesh/relay/storeerr"
)

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
	name   []byte
	values [][]byte
}

// normalize checks f and reduces it to what SQL needs. empty reports a filter
// that matches nothing (a non-nil empty list, or no valid id/pubkey left).
func normalize(f nostr.Filter) (spec filterSpec, empty bool, err error) {
	keys := make([]string, 0, len(f.Tags))
	for k, v := range f.Tags {
		if v == nil {
			continue // a nil list matches everything, as in Filter.Matches
		}
		if len(k) != 1 && len(v) > 0 {
			return spec, false, fmt.Errorf("%w: tag %q: only single-letter tags can be queried", storeerr.ErrUnsupportedFilter, clip(k))
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := f.Tags[k]
		if len(v) == 0 {
			return spec, true, nil
		}
		vals := slices.Clone(v)
		slices.Sort(vals)
		vals = slices.Compact(vals)
		tc := tagCond{name: bytesOf(k)}
		for _, s := range vals {
			tc.values = append(tc.values, bytesOf(s))
		}
		spec.tags = append(spec.tags, tc)
	}
	if f.IDs != nil {
		spec.hasIDs = true
		if spec.ids = decodeAll(f.IDs); len(spec.ids) == 0 {
			return spec, true, nil
		}
	}
	if f.Authors != nil {
		spec.hasAuthors = true
		if spec.authors = decodeAll(f.Authors); len(spec.authors) == 0 {
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

// builder accumulates SQL text and its numbered arguments.
type builder struct {
	sb   strings.Builder
	args []any
}

func (b *builder) w(s string) { b.sb.WriteString(s) }

func (b *builder) arg(v any) {
	b.args = append(b.args, v)
	b.sb.WriteString("$" + strconv.Itoa(len(b.args)))
}

// inBytes writes "col = $n" or "col = ANY($n)" for bytea values.
func (b *builder) inBytes(col string, vals [][]byte) {
	b.w(col)
	if len(vals) == 1 {
		b.w(" = ")
		b.arg(vals[0])
		return
	}
	b.w(" = ANY(")
	b.arg(vals)
	b.w("::bytea[])")
}

// inInts writes "col IN (...)" with the integers inline: they are plain
// numbers, and literal values let the planner use the partial kind-5 index.
func (b *builder) inInts(col string, vals []int) {
	b.w(col)
	if len(vals) == 1 {
		b.w(" = " + strconv.Itoa(vals[0]))
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

// selectMode says what a compiled statement returns.
type selectMode int

const (
	selectRows  selectMode = iota // rows of (raw, id) in answer order, limited
	selectCount                   // one row: the number of matching events
	selectSeqs                    // the seq of each matching event, once, in no order, no limit
)

// driverTag returns the tag condition whose index walk yields the answer in
// order (one value, so one row per event), or -1 when the events table
// drives the query. Like the SQLite store, ids or an author with a shared
// tag (the addressable lookup "authors + kinds + #d") leave it to events.
func driverTag(spec filterSpec) int {
	if len(spec.tags) == 0 || spec.hasIDs {
		return -1
	}
	for i, t := range spec.tags {
		if len(t.values) != 1 {
			continue
		}
		if spec.hasAuthors {
			switch string(t.name) {
			case "d", "k", "t":
				continue
			}
		}
		return i
	}
	return -1
}

// compile writes the statement for spec into b. The caller has dropped
// empty filters.
func compile(b *builder, spec filterSpec, now int64, mode selectMode) {
	d := -1
	if mode == selectRows {
		d = driverTag(spec)
	}
	if d >= 0 {
		t := spec.tags[d]
		b.w("SELECT e.raw, e.id FROM tags t JOIN events e ON e.seq = t.seq WHERE t.name = ")
		b.arg(t.name)
		b.w(" AND t.value = ")
		b.arg(t.values[0])
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
		writeEventConds(b, spec, d, now, false)
		b.w(" ORDER BY t.created_at DESC, t.id")
	} else {
		switch mode {
		case selectRows:
			b.w("SELECT e.raw, e.id")
		case selectCount:
			b.w("SELECT count(*)")
		case selectSeqs:
			b.w("SELECT e.seq")
		}
		b.w(" FROM events e WHERE TRUE")
		writeEventConds(b, spec, -1, now, true)
		if mode == selectRows {
			b.w(" ORDER BY e.created_at DESC, e.id")
		}
	}
	if mode == selectRows && spec.limit > 0 {
		// Inline: the planner then knows how few rows are wanted.
		b.w(" LIMIT " + strconv.Itoa(spec.limit))
	}
}

// writeEventConds writes the conditions on events e and on the tags other
// than the driving one (skip). withTimeKind adds kinds, since and until,
// which a tag driver already applies on t.
func writeEventConds(b *builder, spec filterSpec, skip int, now int64, withTimeKind bool) {
	if spec.hasIDs {
		b.w(" AND ")
		b.inBytes("e.id", spec.ids)
	}
	if spec.hasAuthors {
		b.w(" AND ")
		b.inBytes("e.pubkey", spec.authors)
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
		b.w(" AND e.seq IN (SELECT x.seq FROM tags x WHERE x.name = ")
		b.arg(t.name)
		b.w(" AND ")
		b.inBytes("x.value", t.values)
		b.w(")")
	}
	b.w(" AND (e.expires_at IS NULL OR e.expires_at > ")
	b.arg(now)
	b.w(")")
}
