package graph

import (
	"regexp"
	"strings"
)

// filter is a parsed $filter: one of the forms the cloud CLI sends, a
// property compared with a literal.
type filter struct {
	// prop is "displayName", "appId" or "servicePrincipalNames".
	prop string
	// prefix is set for startswith(prop,'value').
	prefix bool
	value  string
}

const literal = `'((?:[^']|'')*)'`

var (
	eqFilter         = regexp.MustCompile(`^\s*(\w+)\s+eq\s+` + literal + `\s*$`)
	startswithFilter = regexp.MustCompile(`^\s*startswith\(\s*(\w+)\s*,\s*` + literal + `\s*\)\s*$`)
	anyFilter        = regexp.MustCompile(`^\s*(\w+)/any\(\s*(\w+)\s*:\s*(\w+)\s+eq\s+` + literal + `\s*\)\s*$`)
)

// parseFilter parses expr against the properties the collection allows
// ("servicePrincipalNames" only in any()). An empty expression matches all.
func parseFilter(expr string, props ...string) (*filter, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	allowed := func(p string) bool {
		for _, q := range props {
			if q == p {
				return true
			}
		}
		return false
	}
	unquote := func(s string) string { return strings.ReplaceAll(s, "''", "'") }
	if m := eqFilter.FindStringSubmatch(expr); m != nil && allowed(m[1]) && m[1] != "servicePrincipalNames" {
		return &filter{prop: m[1], value: unquote(m[2])}, nil
	}
	if m := startswithFilter.FindStringSubmatch(expr); m != nil && allowed(m[1]) && m[1] != "servicePrincipalNames" {
		return &filter{prop: m[1], prefix: true, value: unquote(m[2])}, nil
	}
	if m := anyFilter.FindStringSubmatch(expr); m != nil && m[1] == "servicePrincipalNames" && allowed(m[1]) && m[2] == m[3] {
		return &filter{prop: m[1], value: unquote(m[4])}, nil
	}
	return nil, invalid("Invalid filter clause: unsupported $filter " + expr)
}

// match applies f to a property's values (several for a collection).
func (f *filter) match(values ...string) bool {
	if f == nil {
		return true
	}
	for _, v := range values {
		if f.prefix && strings.HasPrefix(strings.ToLower(v), strings.ToLower(f.value)) {
			return true
		}
		// Graph compares strings case-insensitively.
		if !f.prefix && strings.EqualFold(v, f.value) {
			return true
		}
	}
	return false
}
