package template

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

type evaluator struct {
	// budget is what is left of maxWork (see spend).
	budget    int64
	scope     Scope
	t         *Template
	given     map[string]any
	paramVals map[string]any
	varVals   map[string]any
	busy      map[string]bool
	plan      *Plan
}

// env is where an expression is evaluated: the copy loops it is in and
// whether reference() may be called there (ref is nil where not).
type env struct {
	ev      *evaluator
	loops   map[string]int64
	current string
	ref     Reference
}

func (ev *evaluator) env(loops map[string]int64, current string, ref Reference) *env {
	return &env{ev: ev, loops: loops, current: current, ref: ref}
}

// maxWork bounds what one template's evaluation may build, counted
// roughly in bytes: values shared by reference (createArray(v, v)) count
// once per use, as they would be written out, so no small template can
// build an exponentially large value.
const maxWork = 16 << 20

// spend charges a value built by the evaluation to its budget.
func (ev *evaluator) spend(v any) error {
	var walk func(v any) bool
	walk = func(v any) bool {
		ev.budget -= 16
		switch x := v.(type) {
		case string:
			ev.budget -= int64(len(x))
		case []any:
			for _, y := range x {
				if !walk(y) {
					return false
				}
			}
		case map[string]any:
			for k, y := range x {
				ev.budget -= int64(len(k))
				if !walk(y) {
					return false
				}
			}
		}
		return ev.budget >= 0
	}
	if !walk(v) {
		return errf("The template is too large to evaluate: the values it builds exceed %d MiB.", maxWork>>20)
	}
	return nil
}

// maxValueDepth bounds how deeply template values nest.
const maxValueDepth = 64

// value evaluates a template value: expression strings, and objects and
// arrays member by member, property copy loops expanded.
func (ev *evaluator) value(e *env, v any) (any, error) { return ev.valueAt(e, v, 0) }

func (ev *evaluator) valueAt(e *env, v any, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, errf("The template value nests more than %d levels.", maxValueDepth)
	}
	switch x := v.(type) {
	case string:
		if strings.HasPrefix(x, "[[") {
			return x[1:], nil
		}
		if !IsExpression(x) {
			return x, nil
		}
		n, err := ParseExpression(x)
		if err != nil {
			return nil, errf("%v", err)
		}
		return e.eval(n)
	case []any:
		out := make([]any, 0, len(x))
		for _, y := range x {
			z, err := ev.valueAt(e, y, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, z)
		}
		return out, nil
	case map[string]any:
		out := map[string]any{}
		for k, y := range x {
			if strings.EqualFold(k, "copy") {
				if _, isArray := y.([]any); isArray {
					loops, err := copyLoops(y)
					if err != nil {
						return nil, errf("%v", err)
					}
					for _, l := range loops {
						a, err := ev.loop(e, l)
						if err != nil {
							return nil, err
						}
						out[l.name] = a
					}
					continue
				}
			}
			z, err := ev.valueAt(e, y, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = z
		}
		return out, nil
	}
	return v, nil
}

// loopSpec is a property, variable or output copy loop.
type loopSpec struct {
	name         string
	count, input any
	// own: copyIndex() without a loop name means this loop (an
	// output's), not the resource's.
	own bool
}

func copyLoops(v any) ([]loopSpec, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("copy must be an array")
	}
	var out []loopSpec
	for _, x := range a {
		m, ok := x.(map[string]any)
		name, _ := m["name"].(string)
		if !ok || name == "" {
			return nil, fmt.Errorf("each copy must be an object with a name, a count and an input")
		}
		out = append(out, loopSpec{name: name, count: m["count"], input: m["input"]})
	}
	return out, nil
}

func (ev *evaluator) loop(e *env, l loopSpec) ([]any, error) {
	c, err := ev.value(e, l.count)
	if err != nil {
		return nil, err
	}
	n, ok := c.(int64)
	if !ok || n < 0 || n > maxCopies {
		return nil, errf("The copy count of '%s' must be an integer from 0 to %d, not '%v'.", l.name, maxCopies, c)
	}
	out := make([]any, 0, n)
	for i := range n {
		inner := *e
		inner.loops = map[string]int64{}
		for k, v := range e.loops {
			inner.loops[k] = v
		}
		inner.loops[strings.ToLower(l.name)] = i
		if l.own {
			inner.current = strings.ToLower(l.name)
		}
		v, err := ev.value(&inner, l.input)
		if err != nil {
			return nil, err
		}
		if err := ev.spend(v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// parameter is a parameter's value, given or its default, checked
// against its declaration.
func (ev *evaluator) parameter(key string) (any, error) {
	if v, ok := ev.paramVals[key]; ok {
		return v, nil
	}
	pd, ok := ev.t.params[key]
	if !ok {
		return nil, errf("The template parameter '%s' is not found.", key)
	}
	d, name := pd.decl, pd.name
	if ev.busy["p:"+key] {
		return nil, invalid("The template parameter '%s' refers to itself through its default value", name)
	}
	ev.busy["p:"+key] = true
	defer delete(ev.busy, "p:"+key)
	v, ok := ev.given[key]
	if !ok {
		def, has := d["defaultvalue"]
		if !has {
			return nil, invalid("The value for the template parameter '%s' is not provided. Please see https://aka.ms/arm-create-parameter-file for usage details", name)
		}
		var err error
		if v, err = ev.value(ev.env(nil, "", nil), def); err != nil {
			return nil, within(err, "The template parameter '%s' is not valid", name)
		}
	}
	typ, _ := d["type"].(string)
	if err := checkType(typ, v); err != nil {
		return nil, invalid("The template parameter '%s' is not valid: %v", name, err)
	}
	if allowed, ok := d["allowedvalues"].([]any); ok && !slices.ContainsFunc(allowed, func(a any) bool { return equal(a, v) }) {
		var s []string
		for _, a := range allowed {
			s = append(s, display(a))
		}
		return nil, invalid("The provided value '%s' for the template parameter '%s' is not valid. Expected a value from '%s'", display(v), name, strings.Join(s, ", "))
	}
	if err := bounds(d, v); err != nil {
		return nil, invalid("The provided value for the template parameter '%s' is not valid: %v", name, err)
	}
	ev.paramVals[key] = v
	return v, nil
}

// bounds checks minValue, maxValue, minLength and maxLength.
func bounds(d map[string]any, v any) error {
	if n, ok := v.(int64); ok {
		if lo, ok := d["minvalue"].(int64); ok && n < lo {
			return fmt.Errorf("%d is less than the minimum value %d", n, lo)
		}
		if hi, ok := d["maxvalue"].(int64); ok && n > hi {
			return fmt.Errorf("%d is more than the maximum value %d", n, hi)
		}
	}
	l := -1
	switch x := v.(type) {
	case string:
		l = len([]rune(x))
	case []any:
		l = len(x)
	}
	if l >= 0 {
		if lo, ok := d["minlength"].(int64); ok && int64(l) < lo {
			return fmt.Errorf("its length %d is less than the minimum length %d", l, lo)
		}
		if hi, ok := d["maxlength"].(int64); ok && int64(l) > hi {
			return fmt.Errorf("its length %d is more than the maximum length %d", l, hi)
		}
	}
	return nil
}

// variable is a variable's value, evaluated once; variables may not call
// reference().
func (ev *evaluator) variable(key string) (any, error) {
	if v, ok := ev.varVals[key]; ok {
		return v, nil
	}
	raw, ok := ev.t.variables[key]
	if !ok {
		return nil, errf("The template variable '%s' is not found. Please see https://aka.ms/arm-template/#variables for usage details.", key)
	}
	if ev.busy["v:"+key] {
		return nil, errf("The template variable '%s' refers to itself.", key)
	}
	ev.busy["v:"+key] = true
	defer delete(ev.busy, "v:"+key)
	e := ev.env(nil, "", nil)
	var v any
	var err error
	if l, ok := raw.(loopSpec); ok {
		v, err = ev.loop(e, l)
	} else {
		v, err = ev.value(e, raw)
	}
	if err != nil {
		return nil, within(err, "The template variable '%s' is not valid", key)
	}
	ev.varVals[key] = v
	return v, nil
}

// eval evaluates an expression node.
func (e *env) eval(n node) (any, error) {
	switch x := n.(type) {
	case literal:
		return x.v, nil
	case member:
		v, err := e.eval(x.x)
		if err != nil {
			return nil, err
		}
		return property(v, x.name)
	case index:
		v, err := e.eval(x.x)
		if err != nil {
			return nil, err
		}
		i, err := e.eval(x.i)
		if err != nil {
			return nil, err
		}
		switch c := v.(type) {
		case []any:
			k, ok := i.(int64)
			if !ok {
				return nil, errf("The language expression array index '%v' is not an integer.", i)
			}
			if k < 0 || k >= int64(len(c)) {
				return nil, errf("The language expression property array index '%d' is out of bounds.", k)
			}
			return c[k], nil
		case map[string]any:
			k, ok := i.(string)
			if !ok {
				return nil, errf("The language expression property name '%v' is not a string.", i)
			}
			return property(v, k)
		}
		return nil, errf("The language expression property '%s' can't be indexed: it is not an array or object.", typeName(v))
	case call:
		name := strings.ToLower(x.name)
		if name == "if" {
			return e.ifFunc(x.args)
		}
		f, ok := functions[name]
		if !ok {
			return nil, errf("The template function '%s' is not valid. Please see https://aka.ms/arm-template-expressions for usage details.", x.name)
		}
		args := make([]any, len(x.args))
		for i, a := range x.args {
			v, err := e.eval(a)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
		v, err := f(e, x.name, args)
		if err != nil {
			return nil, err
		}
		// What parameters, variables and reference give was charged
		// when it was built, or was not built here.
		if name != "parameters" && name != "variables" && name != "reference" {
			if err := e.ev.spend(v); err != nil {
				return nil, err
			}
		}
		return v, nil
	}
	return nil, errf("The language expression is not valid.")
}

// property reads an object's property, ignoring case as the cloud does.
func property(v any, name string) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errf("The language expression property '%s' can't be evaluated: the value is of type '%s', not an object.", name, typeName(v))
	}
	if x, ok := m[name]; ok {
		return x, nil
	}
	var keys []string
	for k, x := range m {
		if strings.EqualFold(k, name) {
			return x, nil
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return nil, errf("The language expression property '%s' doesn't exist, available properties are '%s'.", name, strings.Join(keys, ", "))
}

// ifFunc evaluates only the branch its condition chooses.
func (e *env) ifFunc(args []node) (any, error) {
	if len(args) != 3 {
		return nil, errf("The template language function 'if' must have 3 parameters.")
	}
	c, err := e.eval(args[0])
	if err != nil {
		return nil, err
	}
	b, ok := c.(bool)
	if !ok {
		return nil, errf("The template language function 'if' expects its first parameter to be a boolean, not '%s'.", typeName(c))
	}
	if b {
		return e.eval(args[1])
	}
	return e.eval(args[2])
}
