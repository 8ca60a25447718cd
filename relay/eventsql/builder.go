package eventsql

import (
	"strconv"
	"strings"
)

// Placeholder is how a dialect writes a statement's parameters.
type Placeholder int

const (
	Question Placeholder = iota // "?" (SQLite)
	Dollar                      // "$1", "$2", ... (PostgreSQL)
)

// Builder accumulates SQL text and its arguments.
type Builder struct {
	style Placeholder
	sb    strings.Builder
	args  []any
}

// NewBuilder returns an empty Builder writing parameters in style.
func NewBuilder(style Placeholder) *Builder { return &Builder{style: style} }

// W writes s.
func (b *Builder) W(s string) { b.sb.WriteString(s) }

// Arg writes a parameter bound to v.
func (b *Builder) Arg(v any) {
	b.args = append(b.args, v)
	if b.style == Dollar {
		b.sb.WriteString("$" + strconv.Itoa(len(b.args)))
		return
	}
	b.sb.WriteByte('?')
}

// SQL returns the text written so far.
func (b *Builder) SQL() string { return b.sb.String() }

// Args returns the arguments bound so far, in order.
func (b *Builder) Args() []any { return b.args }

// Ints writes "col = n" or "col IN (...)" with the integers inline: they are
// plain numbers, and literal values let the planner use partial indexes
// (the kind-5 tag index).
func (b *Builder) Ints(col string, vals []int) {
	b.W(col)
	if len(vals) == 1 {
		b.W(" = " + strconv.Itoa(vals[0]))
		return
	}
	b.W(" IN (")
	for i, v := range vals {
		if i > 0 {
			b.W(", ")
		}
		b.W(strconv.Itoa(v))
	}
	b.W(")")
}

// KindTime writes the filter's kinds, since and until as conditions on the
// kind and created_at columns of the table aliased alias, each after " AND ".
func (b *Builder) KindTime(alias string, spec Filter) {
	if spec.HasKinds {
		b.W(" AND ")
		b.Ints(alias+".kind", spec.Kinds)
	}
	if spec.Since != nil {
		b.W(" AND " + alias + ".created_at >= ")
		b.Arg(*spec.Since)
	}
	if spec.Until != nil {
		b.W(" AND " + alias + ".created_at <= ")
		b.Arg(*spec.Until)
	}
}
