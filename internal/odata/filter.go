package odata

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSyntax is a filter that is not one of the forms Parse reads.
var ErrSyntax = errors.New("unsupported $filter syntax")

// maxLength bounds what a client can make the parser walk.
const maxLength = 4096

// Term is one clause of a filter, in one of these forms:
//
//	prop eq 'value'                  Func "eq" (also "ge", "gt", "le", "lt")
//	startswith(prop, 'value')        Func "startswith"
//	substringof('value', prop)       Func "substringof" (OData 3's order)
//	prop/any(x: x eq 'value')        Func "any"
//	name() and name('value')         Func "name", Prop ""
//
// Names are kept as written; OData's literals double a quote to escape it,
// and Value holds the literal unescaped. A comparison may also take a
// date-time (or number) without quotes, as OData writes them and as the
// cloud's clients send a time window: Bare says so.
type Term struct {
	Func  string
	Prop  string
	Value string
	// HasValue tells name() from name('').
	HasValue bool
	Bare     bool
}

// comparisons are the operators a property is compared with.
var comparisons = map[string]bool{"eq": true, "ge": true, "gt": true, "le": true, "lt": true}

// Parse reads a filter. An empty or blank filter is no terms.
func Parse(filter string) ([]Term, error) {
	if len(filter) > maxLength {
		return nil, fmt.Errorf("%w: longer than %d characters", ErrSyntax, maxLength)
	}
	p := parser{s: filter}
	if p.skipSpace(); p.done() {
		return nil, nil
	}
	var terms []Term
	for {
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
		if p.skipSpace(); p.done() {
			return terms, nil
		}
		if w := p.word(); !strings.EqualFold(w, "and") {
			return nil, p.fail("'and' between clauses")
		}
	}
}

type parser struct {
	s   string
	pos int
}

func (p *parser) done() bool { return p.pos >= len(p.s) }

func (p *parser) fail(want string) error {
	return fmt.Errorf("%w: expected %s at position %d", ErrSyntax, want, p.pos+1)
}

func (p *parser) skipSpace() {
	for !p.done() && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

// word reads a name: letters, digits and underscores.
func (p *parser) word() string {
	p.skipSpace()
	start := p.pos
	for !p.done() {
		c := p.s[p.pos]
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			break
		}
		p.pos++
	}
	return p.s[start:p.pos]
}

// punct reads the one character c.
func (p *parser) punct(c byte) bool {
	p.skipSpace()
	if !p.done() && p.s[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// literal reads a quoted string.
func (p *parser) literal() (string, error) {
	if !p.punct('\'') {
		return "", p.fail("a quoted string")
	}
	var b strings.Builder
	for !p.done() {
		c := p.s[p.pos]
		p.pos++
		if c != '\'' {
			b.WriteByte(c)
			continue
		}
		if !p.done() && p.s[p.pos] == '\'' {
			b.WriteByte('\'')
			p.pos++
			continue
		}
		return b.String(), nil
	}
	return "", p.fail("a closing quote")
}

// eq reads "eq 'value'".
func (p *parser) eq() (string, error) {
	if w := p.word(); !strings.EqualFold(w, "eq") {
		return "", p.fail("'eq'")
	}
	return p.literal()
}

// comparison reads "op 'value'" or "op <bare literal>" after a property.
func (p *parser) comparison(prop string) (Term, error) {
	op := strings.ToLower(p.word())
	if !comparisons[op] {
		return Term{}, p.fail("'eq', 'ge', 'gt', 'le' or 'lt'")
	}
	t := Term{Func: op, Prop: prop, HasValue: true}
	if p.skipSpace(); !p.done() && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		t.Value, t.Bare = p.bare(), true
		return t, nil
	}
	var err error
	t.Value, err = p.literal()
	return t, err
}

// bare reads an unquoted literal starting with a digit: the characters of
// a date-time with its zone, or of a number.
func (p *parser) bare() string {
	start := p.pos
	for !p.done() && strings.IndexByte("0123456789-:.+TZtz", p.s[p.pos]) >= 0 {
		p.pos++
	}
	return p.s[start:p.pos]
}

func (p *parser) term() (Term, error) {
	name := p.word()
	if name == "" {
		return Term{}, p.fail("a property or function name")
	}
	switch {
	case p.punct('('):
		return p.call(name)
	case p.punct('/'):
		return p.any(name)
	}
	return p.comparison(name)
}

// call reads the rest of name(...) after its parenthesis.
func (p *parser) call(name string) (Term, error) {
	t := Term{Func: name}
	if p.punct(')') {
		return t, nil
	}
	p.skipSpace()
	if !p.done() && p.s[p.pos] != '\'' {
		if t.Prop = p.word(); t.Prop == "" || !p.punct(',') {
			return Term{}, p.fail("a property and a comma")
		}
	}
	v, err := p.literal()
	if err != nil {
		return Term{}, err
	}
	t.Value, t.HasValue = v, true
	if t.Prop == "" && p.punct(',') {
		if t.Prop = p.word(); t.Prop == "" {
			return Term{}, p.fail("a property after the comma")
		}
	}
	if !p.punct(')') {
		return Term{}, p.fail("')'")
	}
	return t, nil
}

// any reads the rest of prop/any(x: x eq 'value') after its slash.
func (p *parser) any(prop string) (Term, error) {
	if w := p.word(); !strings.EqualFold(w, "any") || !p.punct('(') {
		return Term{}, p.fail("any(")
	}
	v := p.word()
	if v == "" || !p.punct(':') || p.word() != v {
		return Term{}, p.fail("a lambda such as x: x eq 'value'")
	}
	value, err := p.eq()
	if err != nil {
		return Term{}, err
	}
	if !p.punct(')') {
		return Term{}, p.fail("')'")
	}
	return Term{Func: "any", Prop: prop, Value: value, HasValue: true}, nil
}
