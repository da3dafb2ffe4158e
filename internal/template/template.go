package template

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Error is a template the cloud would refuse before deploying anything:
// its code is always InvalidTemplate.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func invalid(format string, args ...any) error {
	return &Error{Code: "InvalidTemplate", Message: "Deployment template validation failed: '" + fmt.Sprintf(format, args...) + "'."}
}

// exprError is an expression's failure, before it is placed in the
// template (which resource, variable or output).
type exprError struct{ msg string }

func (e *exprError) Error() string { return e.msg }

func errf(format string, args ...any) error { return &exprError{fmt.Sprintf(format, args...)} }

// within places an expression's failure in the template; other errors
// (a reference to a resource that failed to load) pass unchanged.
func within(err error, format string, args ...any) error {
	var xe *exprError
	if errors.As(err, &xe) {
		return invalid("%s: %s", fmt.Sprintf(format, args...), xe.msg)
	}
	return err
}

// Template is a parsed deployment template.
type Template struct {
	params    map[string]paramDecl // by lower-case name
	variables map[string]any
	resources []any
	outputs   map[string]any
}

// Parse reads a template (JSON, or the relaxed JSON of JSONC).
func Parse(b []byte) (*Template, error) {
	j, err := JSONC(b)
	if err != nil {
		return nil, invalid("The template is not valid JSON: %v", err)
	}
	v, err := decodeJSON(j)
	if err != nil {
		return nil, invalid("The template is not valid JSON: %v", err)
	}
	return FromValue(v)
}

// FromValue reads a template already decoded from JSON.
func FromValue(v any) (*Template, error) {
	root, ok := numbers(v).(map[string]any)
	if !ok {
		return nil, invalid("The template must be a JSON object")
	}
	if v, ok := field(root, "languageVersion"); ok {
		return nil, invalid("The template's languageVersion '%v' is not supported: berth deploys templates whose resources are an array", v)
	}
	t := &Template{params: map[string]paramDecl{}, variables: map[string]any{}, outputs: map[string]any{}}
	for k, v := range root {
		switch strings.ToLower(k) {
		case "$schema", "contentversion", "metadata", "apiprofile":
		case "functions":
			if a, _ := v.([]any); len(a) > 0 {
				return nil, invalid("User-defined functions are not supported")
			}
		case "parameters":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, invalid("The template parameters must be an object")
			}
			for name, d := range m {
				dm, ok := d.(map[string]any)
				if !ok {
					return nil, invalid("The template parameter '%s' must be an object", name)
				}
				t.params[strings.ToLower(name)] = paramDecl{name: name, decl: lowerKeys(dm)}
			}
		case "variables":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, invalid("The template variables must be an object")
			}
			for name, d := range m {
				if strings.EqualFold(name, "copy") {
					loops, err := copyLoops(d)
					if err != nil {
						return nil, invalid("The template variable 'copy' is not valid: %v", err)
					}
					for _, l := range loops {
						t.variables[strings.ToLower(l.name)] = l
					}
					continue
				}
				t.variables[strings.ToLower(name)] = d
			}
		case "resources":
			a, ok := v.([]any)
			if !ok {
				return nil, invalid("The template resources must be an array")
			}
			t.resources = a
		case "outputs":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, invalid("The template outputs must be an object")
			}
			t.outputs = m
		default:
			return nil, invalid("The template property '%s' is not allowed", k)
		}
	}
	for _, sec := range []struct {
		what string
		v    any
	}{{"parameter", mustField(root, "parameters")}, {"variable", mustField(root, "variables")}, {"resource", t.resources}, {"output", t.outputs}} {
		if err := checkExpressions(sec.what, sec.v, 0); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// checkExpressions refuses, before anything is evaluated, an expression
// that does not parse or calls a function berth does not have.
func checkExpressions(what string, v any, depth int) error {
	if depth > maxValueDepth {
		return invalid("A template %s nests more than %d levels", what, maxValueDepth)
	}
	switch x := v.(type) {
	case string:
		if !IsExpression(x) {
			return nil
		}
		n, err := ParseExpression(x)
		if err != nil {
			return invalid("The template %s is not valid: %v", what, err)
		}
		if name := unknownFunction(n); name != "" {
			return invalid("The template %s is not valid: The template function '%s' is not valid. Please see https://aka.ms/arm-template-expressions for usage details", what, name)
		}
	case []any:
		for _, y := range x {
			if err := checkExpressions(what, y, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, y := range x {
			if err := checkExpressions(what, y, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// unknownFunction is the first function an expression calls that berth
// does not have, or "".
func unknownFunction(n node) string {
	switch x := n.(type) {
	case call:
		if _, ok := functions[strings.ToLower(x.name)]; !ok && !strings.EqualFold(x.name, "if") {
			return x.name
		}
		for _, a := range x.args {
			if u := unknownFunction(a); u != "" {
				return u
			}
		}
	case member:
		return unknownFunction(x.x)
	case index:
		if u := unknownFunction(x.x); u != "" {
			return u
		}
		return unknownFunction(x.i)
	}
	return ""
}

// paramDecl is a parameter's declaration, its members by lower-case
// name, and its name as the template spells it.
type paramDecl struct {
	name string
	decl map[string]any
}

// lowerKeys is m with its member names in lower case, as declarations'
// members are matched.
func lowerKeys(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// Scope is where a template is deployed.
type Scope struct {
	TenantID         string
	SubscriptionID   string
	SubscriptionName string
	ResourceGroup    string
	Location         string
	GroupTags        map[string]string
	DeploymentName   string
}

func (s Scope) groupID() string {
	return "/subscriptions/" + s.SubscriptionID + "/resourceGroups/" + s.ResourceGroup
}

// Reference reads a deployed resource for reference(): its properties,
// or with full its whole body.
type Reference func(id string, full bool) (any, error)

// Resource is one resource a deployment makes.
type Resource struct {
	// ID is the resource's id. An extension resource's (a role
	// assignment) is its Scope's id, "/providers/", its type and name.
	ID string
	// Type is the full type, Name the full name ("identity/credential"
	// for a child); an extension resource's are its own.
	Type, Name, APIVersion string
	// Scope is the id an extension resource extends; empty for others.
	Scope string
	// DependsOn are the ids of the resources deployed before this one.
	DependsOn []string

	def   map[string]any
	loops map[string]int64
	loop  string // the copy loop copyIndex() counts in
	copy  string // the copy loop this resource is an instance of
	deps  []string
}

// Plan is a template evaluated for one deployment: its parameters and
// variables known, its resources named and in the order they deploy.
type Plan struct {
	Resources  []*Resource
	Parameters map[string]Parameter
	ev         *evaluator
	outputs    map[string]any
	// skipped are the names and ids of resources whose condition is
	// false: depending on one is depending on nothing.
	skipped map[string]bool
}

// Parameter is a parameter's declared type and value.
type Parameter struct {
	Type  string
	Value any
}

// Output is an output's declared type and value.
type Output struct {
	Type  string
	Value any
}

// maxCopies is the most instances one copy loop may make, as in the
// cloud.
const maxCopies = 800

// Plan evaluates the template's parameters (values given as params, by
// name), its variables, and its resources' names, types, conditions,
// copy loops and dependencies, and orders the resources. Nothing that
// needs a deployed resource (reference) is evaluated yet.
func (t *Template) Plan(s Scope, params map[string]any) (*Plan, error) {
	ev := &evaluator{budget: maxWork, scope: s, t: t, given: map[string]any{}, paramVals: map[string]any{}, varVals: map[string]any{}, busy: map[string]bool{}}
	for name, v := range params {
		if _, ok := t.params[strings.ToLower(name)]; !ok {
			return nil, invalid("The template parameters '%s' are not valid; they are not present in the original template and can therefore not be provided at deployment time", name)
		}
		ev.given[strings.ToLower(name)] = numbers(v)
	}
	p := &Plan{ev: ev, outputs: t.outputs, Parameters: map[string]Parameter{}, skipped: map[string]bool{}}
	ev.plan = p
	names := make([]string, 0, len(t.params))
	for k := range t.params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v, err := ev.parameter(k)
		if err != nil {
			return nil, err
		}
		d := t.params[k]
		typ, _ := d.decl["type"].(string)
		p.Parameters[d.name] = Parameter{Type: typ, Value: v}
	}
	vnames := make([]string, 0, len(t.variables))
	for k := range t.variables {
		vnames = append(vnames, k)
	}
	sort.Strings(vnames)
	for _, k := range vnames {
		if _, err := ev.variable(k); err != nil {
			return nil, err
		}
	}
	for i, r := range t.resources {
		def, ok := r.(map[string]any)
		if !ok {
			return nil, invalid("The template resource at index %d must be an object", i)
		}
		if err := p.expand(def, nil); err != nil {
			return nil, err
		}
	}
	if err := p.order(); err != nil {
		return nil, err
	}
	return p, nil
}

func mustField(m map[string]any, name string) any {
	v, _ := field(m, name)
	return v
}

func field(m map[string]any, name string) (any, bool) {
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// expand adds a resource definition's instances (one, or one per copy
// index), and its nested children's, to the plan.
func (p *Plan) expand(def map[string]any, parent *Resource) error {
	count, loop := int64(1), ""
	label := fmt.Sprint(def["name"])
	if c, ok := field(def, "copy"); ok {
		cm, ok := c.(map[string]any)
		if !ok {
			return invalid("The template resource '%s' is not valid: its copy must be an object", label)
		}
		loop, _ = cm["name"].(string)
		if loop == "" {
			return invalid("The template resource '%s' is not valid: its copy must have a name", label)
		}
		v, err := p.ev.value(p.ev.env(nil, "", nil), cm["count"])
		if err != nil {
			return within(err, "The template resource '%s' is not valid", label)
		}
		n, ok := v.(int64)
		if !ok || n < 0 || n > maxCopies {
			return invalid("The template resource '%s' is not valid: the copy count must be an integer from 0 to %d, not '%v'", label, maxCopies, v)
		}
		count = n
	}
	for i := range count {
		loops := map[string]int64{}
		if parent != nil {
			for k, v := range parent.loops {
				loops[k] = v
			}
		}
		current := strings.ToLower(loop)
		if loop != "" {
			loops[current] = i
		} else if parent != nil {
			current = parent.loop
		}
		e := p.ev.env(loops, current, nil)
		if c, ok := field(def, "condition"); ok {
			v, err := p.ev.value(e, c)
			if err != nil {
				return within(err, "The template resource '%s' is not valid", label)
			}
			if b, ok := v.(bool); !ok {
				return invalid("The template resource '%s' is not valid: its condition must be a boolean, not '%v'", label, v)
			} else if !b {
				if r, err := p.instance(e, def, parent); err == nil {
					p.skipped[strings.ToLower(r.ID)], p.skipped[strings.ToLower(r.Name)] = true, true
				}
				continue
			}
		}
		r, err := p.instance(e, def, parent)
		if err != nil {
			return err
		}
		r.loops, r.loop, r.copy = loops, current, strings.ToLower(loop)
		if err := p.ev.spend(r.def); err != nil {
			return invalid("The template resource '%s' is not valid: %v", r.Name, err)
		}
		p.Resources = append(p.Resources, r)
		if kids, ok := field(def, "resources"); ok {
			a, ok := kids.([]any)
			if !ok {
				return invalid("The template resource '%s' is not valid: its resources must be an array", r.Name)
			}
			for _, k := range a {
				km, ok := k.(map[string]any)
				if !ok {
					return invalid("The template resource '%s' is not valid: a nested resource must be an object", r.Name)
				}
				if err := p.expand(km, r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// instance names one instance of a resource.
func (p *Plan) instance(e *env, def map[string]any, parent *Resource) (*Resource, error) {
	str := func(key string) (string, error) {
		v, _ := field(def, key)
		x, err := p.ev.value(e, v)
		if err != nil {
			return "", within(err, "The template resource '%v' is not valid", def["name"])
		}
		s, ok := x.(string)
		if !ok || s == "" {
			return "", invalid("The template resource '%v' is not valid: its %s must be a non-empty string", def["name"], key)
		}
		return s, nil
	}
	name, err := str("name")
	if err != nil {
		return nil, err
	}
	typ, err := str("type")
	if err != nil {
		return nil, err
	}
	api, err := str("apiVersion")
	if err != nil {
		return nil, err
	}
	r := &Resource{Name: name, Type: typ, APIVersion: api, def: def}
	if parent != nil {
		if !strings.Contains(typ, "/") {
			r.Type = parent.Type + "/" + typ
		}
		if len(strings.Split(r.Name, "/")) < len(strings.Split(r.Type, "/"))-1 {
			r.Name = parent.Name + "/" + name
		}
		r.deps = append(r.deps, parent.ID)
	}
	group := p.ev.scope.groupID()
	if base, ext, ok := strings.Cut(r.Type, "/providers/"); ok {
		// The older form of an extension resource: its type and name
		// carry the resource it extends.
		baseNames := len(strings.Split(base, "/")) - 1
		parts := strings.Split(r.Name, "/")
		if len(parts) != baseNames+2 || strings.Count(ext, "/") != 0 {
			return nil, invalid("The template resource '%s' for type '%s' has incorrect segment lengths", r.Name, r.Type)
		}
		scope, err := idOf(group, base, parts[:baseNames])
		if err != nil {
			return nil, err
		}
		r.Scope, r.Type, r.Name = scope, parts[baseNames]+"/"+ext, parts[baseNames+1]
		r.ID = r.Scope + "/providers/" + r.Type + "/" + r.Name
	} else if sc, ok := field(def, "scope"); ok {
		v, err := p.ev.value(e, sc)
		if err != nil {
			return nil, within(err, "The template resource '%s' is not valid", name)
		}
		s, _ := v.(string)
		switch {
		case s == "":
			return nil, invalid("The template resource '%s' is not valid: its scope must be a non-empty string", name)
		case strings.HasPrefix(s, "/"):
			r.Scope = strings.TrimSuffix(s, "/")
		default:
			r.Scope = group + "/providers/" + s
		}
		r.ID = r.Scope + "/providers/" + r.Type + "/" + r.Name
	} else {
		id, err := idOf(group, r.Type, strings.Split(r.Name, "/"))
		if err != nil {
			return nil, err
		}
		r.ID = id
	}
	if d, ok := field(def, "dependsOn"); ok {
		a, ok := d.([]any)
		if !ok {
			return nil, invalid("The template resource '%s' is not valid: its dependsOn must be an array", name)
		}
		for _, x := range a {
			v, err := p.ev.value(e, x)
			if err != nil {
				return nil, within(err, "The template resource '%s' is not valid", name)
			}
			s, ok := v.(string)
			if !ok || s == "" {
				return nil, invalid("The template resource '%s' is not valid: each dependsOn must be a non-empty string", name)
			}
			r.deps = append(r.deps, s)
		}
	}
	return r, nil
}

// idOf is the id of a resource of type typ ("Namespace/t1/t2") named
// names (one per level) in a group.
func idOf(group, typ string, names []string) (string, error) {
	types := strings.Split(typ, "/")
	if len(types) < 2 || len(types)-1 != len(names) {
		return "", invalid("The template resource '%s' for type '%s' has incorrect segment lengths. A nested resource type must have identical number of segments as its resource name", strings.Join(names, "/"), typ)
	}
	var b strings.Builder
	b.WriteString(group + "/providers/" + types[0])
	for i, n := range names {
		if n == "" {
			return "", invalid("The template resource '%s' for type '%s' has an empty name segment", strings.Join(names, "/"), typ)
		}
		b.WriteString("/" + types[i+1] + "/" + n)
	}
	return b.String(), nil
}

// order resolves dependsOn to resources and sorts the resources so that
// each comes after what it depends on, otherwise in template order.
func (p *Plan) order() error {
	byKey := map[string][]int{}
	add := func(k string, i int) {
		k = strings.ToLower(k)
		if !slices.Contains(byKey[k], i) {
			byKey[k] = append(byKey[k], i)
		}
	}
	seen := map[string]bool{}
	for i, r := range p.Resources {
		if seen[strings.ToLower(r.ID)] {
			return invalid("The resource '%s' is defined multiple times in a template", r.ID)
		}
		seen[strings.ToLower(r.ID)] = true
		add(r.ID, i)
		add(r.Name, i)
		if _, tail, ok := strings.Cut(r.ID, "/providers/"); ok && r.Scope == "" {
			add(tail, i)
		}
		if r.copy != "" {
			add(r.copy, i)
		}
	}
	edges := make([][]int, len(p.Resources))
	indeg := make([]int, len(p.Resources))
	for i, r := range p.Resources {
		for _, d := range r.deps {
			targets, ok := byKey[strings.ToLower(d)]
			if !ok && p.skipped[strings.ToLower(d)] {
				continue
			}
			if !ok {
				return invalid("The resource '%s' is not defined in the template", d)
			}
			for _, j := range targets {
				if j == i || slices.Contains(edges[j], i) {
					continue
				}
				edges[j] = append(edges[j], i)
				indeg[i]++
				r.DependsOn = append(r.DependsOn, p.Resources[j].ID)
			}
		}
	}
	var out []*Resource
	done := make([]bool, len(p.Resources))
	for len(out) < len(p.Resources) {
		next := -1
		for i := range p.Resources {
			if !done[i] && indeg[i] == 0 {
				next = i
				break
			}
		}
		if next < 0 {
			var cycle []string
			for i, r := range p.Resources {
				if !done[i] {
					cycle = append(cycle, r.ID)
				}
			}
			return invalid("Circular dependency detected on resource: '%s'", strings.Join(cycle, "', '"))
		}
		done[next] = true
		out = append(out, p.Resources[next])
		for _, j := range edges[next] {
			indeg[j]--
		}
	}
	p.Resources = out
	return nil
}

// meta are a resource definition's members that say how to deploy it,
// not what it is.
var meta = map[string]bool{"name": true, "type": true, "apiversion": true, "dependson": true, "copy": true,
	"condition": true, "resources": true, "scope": true, "comments": true}

// Body evaluates what a resource states (location, tags, sku, kind,
// identity, properties...), with reference() reading what is deployed
// through ref.
func (p *Plan) Body(r *Resource, ref Reference) (map[string]any, error) {
	e := p.ev.env(r.loops, r.loop, ref)
	out := map[string]any{}
	for k, v := range r.def {
		if meta[strings.ToLower(k)] {
			continue
		}
		x, err := p.ev.value(e, v)
		if err != nil {
			return nil, within(err, "The template resource '%s' is not valid", r.Name)
		}
		out[strings.ToLower(k)] = x
	}
	return out, nil
}

// Outputs evaluates the template's outputs.
func (p *Plan) Outputs(ref Reference) (map[string]Output, error) {
	out := map[string]Output{}
	e := p.ev.env(nil, "", ref)
	for name, d := range p.outputs {
		dm, ok := d.(map[string]any)
		if !ok {
			return nil, invalid("The template output '%s' must be an object", name)
		}
		dm = lowerKeys(dm)
		typ, _ := dm["type"].(string)
		if c, ok := dm["condition"]; ok {
			v, err := p.ev.value(e, c)
			if err != nil {
				return nil, within(err, "The template output '%s' is not valid", name)
			}
			if b, _ := v.(bool); !b {
				continue
			}
		}
		var v any
		var err error
		if c, ok := dm["copy"]; ok {
			v, err = p.ev.loop(e, loopSpec{name: name, count: mapOf(c)["count"], input: mapOf(c)["input"], own: true})
		} else {
			v, err = p.ev.value(e, dm["value"])
		}
		if err != nil {
			return nil, within(err, "The template output '%s' is not valid", name)
		}
		if err := checkType(typ, v); err != nil {
			return nil, invalid("The template output '%s' is not valid: %v", name, err)
		}
		out[name] = Output{Type: DisplayType(typ), Value: v}
	}
	return out, nil
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// DisplayType is a declared type as the cloud shows it: "String",
// "SecureString", "Int"...
func DisplayType(t string) string {
	switch strings.ToLower(t) {
	case "securestring":
		return "SecureString"
	case "secureobject":
		return "SecureObject"
	case "":
		return ""
	}
	return strings.ToUpper(t[:1]) + strings.ToLower(t[1:])
}

// IsSecure reports whether a declared type's values are never shown.
func IsSecure(t string) bool {
	return strings.EqualFold(t, "securestring") || strings.EqualFold(t, "secureobject")
}

// checkType checks a value against a declared type.
func checkType(typ string, v any) error {
	ok := true
	switch strings.ToLower(typ) {
	case "string", "securestring":
		_, ok = v.(string)
	case "int":
		_, ok = v.(int64)
	case "bool":
		_, ok = v.(bool)
	case "object", "secureobject":
		_, ok = v.(map[string]any)
	case "array":
		_, ok = v.([]any)
	default:
		return fmt.Errorf("the type '%s' is not one of string, securestring, int, bool, object, secureObject, array", typ)
	}
	if !ok {
		return fmt.Errorf("the value is of type '%s', not '%s'", typeName(v), typ)
	}
	return nil
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "String"
	case int64:
		return "Integer"
	case float64:
		return "Float"
	case bool:
		return "Boolean"
	case map[string]any:
		return "Object"
	case []any:
		return "Array"
	case nil:
		return "Null"
	}
	return fmt.Sprintf("%T", v)
}
