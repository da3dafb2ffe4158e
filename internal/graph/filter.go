package graph

import (
	"slices"
	"strings"

	"github.com/berthhq/berth/internal/odata"
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

// parseFilter parses expr against the properties the collection allows
// ("servicePrincipalNames" only in any()). An empty expression matches all.
func parseFilter(expr string, props ...string) (*filter, error) {
	terms, err := odata.Parse(expr)
	if err == nil && len(terms) == 0 {
		return nil, nil
	}
	if err == nil && len(terms) == 1 {
		t := terms[0]
		collection := t.Prop == "servicePrincipalNames"
		if slices.Contains(props, t.Prop) && collection == (t.Func == "any") && !t.Bare {
			switch t.Func {
			case "eq", "any":
				return &filter{prop: t.Prop, value: t.Value}, nil
			case "startswith":
				return &filter{prop: t.Prop, prefix: true, value: t.Value}, nil
			}
		}
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
