package template

import (
	"fmt"
	"strconv"
	"strings"
)

// An expression is a tree of these nodes.
type (
	literal struct{ v any }
	call    struct {
		name string
		args []node
	}
	member struct {
		x    node
		name string
	}
	index struct{ x, i node }
)

type node interface{}

// maxDepth bounds how deeply calls, members and indexes nest, so that no
// input can exhaust the stack.
const maxDepth = 100

// IsExpression reports whether a template string is an expression: it
// is in brackets and does not begin with "[[", which escapes a literal
// leading bracket.
func IsExpression(s string) bool {
	return len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' && !strings.HasPrefix(s, "[[")
}

// ParseExpression parses the text of an expression string, brackets
// included.
func ParseExpression(s string) (node, error) {
	if !IsExpression(s) {
		return nil, fmt.Errorf("the string '%s' is not an expression", s)
	}
	p := &parser{src: s[1 : len(s)-1]}
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.src) {
		return nil, p.errorf("unexpected '%s'", p.src[p.pos:])
	}
	return n, nil
}

type parser struct {
	src string
	pos int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("The language expression '%s' is not valid: %s at position %d.", p.src, fmt.Sprintf(format, args...), p.pos)
}

func (p *parser) space() {
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n", p.src[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *parser) peek() byte {
	p.space()
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdent(c byte) bool      { return isIdentStart(c) || c >= '0' && c <= '9' }

func (p *parser) ident() string {
	start := p.pos
	for p.pos < len(p.src) && isIdent(p.src[p.pos]) {
		p.pos++
	}
	return p.src[start:p.pos]
}

// expr is a primary (literal or call) followed by any number of member
// accesses and indexes.
func (p *parser) expr(depth int) (node, error) {
	if depth > maxDepth {
		return nil, p.errorf("it nests more than %d levels", maxDepth)
	}
	n, err := p.primary(depth)
	if err != nil {
		return nil, err
	}
	for {
		switch p.peek() {
		case '.':
			p.pos++
			p.space()
			name := p.ident()
			if name == "" {
				return nil, p.errorf("a property name must follow '.'")
			}
			n = member{x: n, name: name}
		case '[':
			p.pos++
			i, err := p.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			if p.peek() != ']' {
				return nil, p.errorf("expected ']'")
			}
			p.pos++
			n = index{x: n, i: i}
		default:
			return n, nil
		}
	}
}

func (p *parser) primary(depth int) (node, error) {
	c := p.peek()
	switch {
	case c == '\'':
		return p.str()
	case c == '-' || c >= '0' && c <= '9':
		start := p.pos
		p.pos++
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		n, err := strconv.ParseInt(p.src[start:p.pos], 10, 64)
		if err != nil {
			return nil, p.errorf("'%s' is not an integer", p.src[start:p.pos])
		}
		return literal{n}, nil
	case isIdentStart(c):
		name := p.ident()
		if p.peek() != '(' {
			return nil, p.errorf("expected '(' after the function name '%s'", name)
		}
		p.pos++
		cl := call{name: name}
		if p.peek() == ')' {
			p.pos++
			return cl, nil
		}
		for {
			a, err := p.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			cl.args = append(cl.args, a)
			switch p.peek() {
			case ',':
				p.pos++
				continue
			case ')':
				p.pos++
				return cl, nil
			}
			return nil, p.errorf("expected ',' or ')'")
		}
	}
	if c == 0 {
		return nil, p.errorf("the expression ends early")
	}
	return nil, p.errorf("unexpected '%c'", c)
}

// str reads a quoted string, where two quotes stand for one.
func (p *parser) str() (node, error) {
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		p.pos++
		if c != '\'' {
			b.WriteByte(c)
			continue
		}
		if p.pos < len(p.src) && p.src[p.pos] == '\'' {
			b.WriteByte('\'')
			p.pos++
			continue
		}
		return literal{b.String()}, nil
	}
	return nil, p.errorf("a string is not closed")
}
