package template

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

type function func(e *env, name string, args []any) (any, error)

// functions are the template functions berth evaluates, by lower-case
// name; if is evaluated apart, as only its chosen branch is.
var functions map[string]function

func init() {
	functions = map[string]function{
		"parameters": func(e *env, n string, a []any) (any, error) {
			s, err := oneString(n, a)
			if err != nil {
				return nil, err
			}
			if _, ok := e.ev.t.params[strings.ToLower(s)]; !ok {
				return nil, errf("The template parameter '%s' is not found. Please see https://aka.ms/arm-template/#parameters for usage details.", s)
			}
			return e.ev.parameter(strings.ToLower(s))
		},
		"variables": func(e *env, n string, a []any) (any, error) {
			s, err := oneString(n, a)
			if err != nil {
				return nil, err
			}
			return e.ev.variable(strings.ToLower(s))
		},
		"resourceid":             resourceID,
		"subscriptionresourceid": subscriptionResourceID,
		"extensionresourceid": func(e *env, n string, a []any) (any, error) {
			s, err := strings_(n, a, 3)
			if err != nil {
				return nil, err
			}
			return typedID(strings.TrimSuffix(s[0], "/"), s[1], s[2:], n)
		},
		"resourcegroup": func(e *env, n string, a []any) (any, error) {
			if err := arity(n, a, 0, 0); err != nil {
				return nil, err
			}
			tags := map[string]any{}
			for k, v := range e.ev.scope.GroupTags {
				tags[k] = v
			}
			return map[string]any{"id": e.ev.scope.groupID(), "name": e.ev.scope.ResourceGroup, "type": "Microsoft.Resources/resourceGroups",
				"location": e.ev.scope.Location, "tags": tags, "properties": map[string]any{"provisioningState": "Succeeded"}}, nil
		},
		"subscription": func(e *env, n string, a []any) (any, error) {
			if err := arity(n, a, 0, 0); err != nil {
				return nil, err
			}
			s := e.ev.scope
			return map[string]any{"id": "/subscriptions/" + s.SubscriptionID, "subscriptionId": s.SubscriptionID, "tenantId": s.TenantID, "displayName": s.SubscriptionName}, nil
		},
		"tenant": func(e *env, n string, a []any) (any, error) {
			if err := arity(n, a, 0, 0); err != nil {
				return nil, err
			}
			return map[string]any{"tenantId": e.ev.scope.TenantID}, nil
		},
		"deployment": func(e *env, n string, a []any) (any, error) {
			if err := arity(n, a, 0, 0); err != nil {
				return nil, err
			}
			return map[string]any{"name": e.ev.scope.DeploymentName, "properties": map[string]any{}}, nil
		},
		"reference": reference,
		"copyindex": copyIndex,
		"concat": func(e *env, n string, a []any) (any, error) {
			if len(a) > 0 {
				if _, ok := a[0].([]any); ok {
					var out []any
					for _, x := range a {
						arr, ok := x.([]any)
						if !ok {
							return nil, errf("The template language function 'concat' expects its parameters to be either all arrays or all strings, integers and booleans.")
						}
						out = append(out, arr...)
					}
					return nonNil(out), nil
				}
			}
			var b strings.Builder
			for _, x := range a {
				s, err := scalar(n, x)
				if err != nil {
					return nil, err
				}
				b.WriteString(s)
			}
			return b.String(), nil
		},
		"format":       format,
		"guid":         hashFunc(guid),
		"uniquestring": hashFunc(uniqueString),
		"tolower":      stringFunc(strings.ToLower),
		"toupper":      stringFunc(strings.ToUpper),
		"trim":         stringFunc(strings.TrimSpace),
		"equals": func(e *env, n string, a []any) (any, error) {
			if err := arity(n, a, 2, 2); err != nil {
				return nil, err
			}
			return equal(a[0], a[1]), nil
		},
		"not": func(e *env, n string, a []any) (any, error) {
			b, err := bools(n, a, 1, 1)
			if err != nil {
				return nil, err
			}
			return !b[0], nil
		},
		"and": func(e *env, n string, a []any) (any, error) {
			b, err := bools(n, a, 2, -1)
			if err != nil {
				return nil, err
			}
			for _, x := range b {
				if !x {
					return false, nil
				}
			}
			return true, nil
		},
		"or": func(e *env, n string, a []any) (any, error) {
			b, err := bools(n, a, 2, -1)
			if err != nil {
				return nil, err
			}
			for _, x := range b {
				if x {
					return true, nil
				}
			}
			return false, nil
		},
		"true":  constant(true),
		"false": constant(false),
		"null":  constant(nil),
		"length": func(e *env, n string, a []any) (any, error) {
			if err := arity(n, a, 1, 1); err != nil {
				return nil, err
			}
			switch x := a[0].(type) {
			case string:
				return int64(len([]rune(x))), nil
			case []any:
				return int64(len(x)), nil
			case map[string]any:
				return int64(len(x)), nil
			}
			return nil, errf("The template language function 'length' expects a string, an array or an object, not '%s'.", typeName(a[0]))
		},
		"empty": func(e *env, n string, a []any) (any, error) {
			if err := arity(n, a, 1, 1); err != nil {
				return nil, err
			}
			switch x := a[0].(type) {
			case nil:
				return true, nil
			case string:
				return x == "", nil
			case []any:
				return len(x) == 0, nil
			case map[string]any:
				return len(x) == 0, nil
			}
			return nil, errf("The template language function 'empty' expects a string, an array or an object, not '%s'.", typeName(a[0]))
		},
		"string": func(e *env, n string, a []any) (any, error) {
			if err := arity(n, a, 1, 1); err != nil {
				return nil, err
			}
			return display(a[0]), nil
		},
		"int": func(e *env, n string, a []any) (any, error) {
			if err := arity(n, a, 1, 1); err != nil {
				return nil, err
			}
			switch x := a[0].(type) {
			case int64:
				return x, nil
			case string:
				v, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
				if err != nil {
					return nil, errf("The template language function 'int' cannot convert '%s' to an integer.", x)
				}
				return v, nil
			}
			return nil, errf("The template language function 'int' expects a string or an integer, not '%s'.", typeName(a[0]))
		},
		"bool": func(e *env, n string, a []any) (any, error) {
			if err := arity(n, a, 1, 1); err != nil {
				return nil, err
			}
			switch x := a[0].(type) {
			case bool:
				return x, nil
			case int64:
				return x != 0, nil
			case string:
				switch strings.ToLower(x) {
				case "true":
					return true, nil
				case "false":
					return false, nil
				}
			}
			return nil, errf("The template language function 'bool' cannot convert '%s' to a boolean.", display(a[0]))
		},
		"createobject": func(e *env, n string, a []any) (any, error) {
			if len(a)%2 != 0 {
				return nil, errf("The template language function 'createObject' must have an even number of parameters.")
			}
			out := map[string]any{}
			for i := 0; i < len(a); i += 2 {
				k, ok := a[i].(string)
				if !ok {
					return nil, errf("The template language function 'createObject' expects its property names to be strings.")
				}
				out[k] = a[i+1]
			}
			return out, nil
		},
		"createarray": func(e *env, n string, a []any) (any, error) { return nonNil(append([]any(nil), a...)), nil },
		"array": func(e *env, n string, a []any) (any, error) {
			if err := arity(n, a, 1, 1); err != nil {
				return nil, err
			}
			if arr, ok := a[0].([]any); ok {
				return arr, nil
			}
			return []any{a[0]}, nil
		},
		"json": func(e *env, n string, a []any) (any, error) {
			s, err := oneString(n, a)
			if err != nil {
				return nil, err
			}
			v, err := decodeJSON([]byte(s))
			if err != nil {
				return nil, errf("The template language function 'json' cannot parse '%s': %v.", s, err)
			}
			return v, nil
		},
		"contains": func(e *env, n string, a []any) (any, error) {
			if err := arity(n, a, 2, 2); err != nil {
				return nil, err
			}
			switch x := a[0].(type) {
			case string:
				s, err := scalar(n, a[1])
				if err != nil {
					return nil, err
				}
				return strings.Contains(x, s), nil
			case []any:
				for _, y := range x {
					if equal(y, a[1]) {
						return true, nil
					}
				}
				return false, nil
			case map[string]any:
				k, ok := a[1].(string)
				if !ok {
					return false, nil
				}
				for y := range x {
					if strings.EqualFold(y, k) {
						return true, nil
					}
				}
				return false, nil
			}
			return nil, errf("The template language function 'contains' expects a string, an array or an object, not '%s'.", typeName(a[0]))
		},
		"replace": func(e *env, n string, a []any) (any, error) {
			s, err := strings_(n, a, 3)
			if err != nil || len(s) != 3 {
				return nil, errOr(err, "The template language function 'replace' must have 3 parameters.")
			}
			return strings.ReplaceAll(s[0], s[1], s[2]), nil
		},
		"startswith": twoStrings(func(a, b string) any { return strings.HasPrefix(strings.ToLower(a), strings.ToLower(b)) }),
		"endswith":   twoStrings(func(a, b string) any { return strings.HasSuffix(strings.ToLower(a), strings.ToLower(b)) }),
		"indexof": twoStrings(func(a, b string) any {
			return int64(strings.Index(strings.ToLower(a), strings.ToLower(b)))
		}),
		"split": func(e *env, n string, a []any) (any, error) {
			s, err := strings_(n, a, 2)
			if err != nil || len(s) != 2 {
				return nil, errOr(err, "The template language function 'split' must have 2 parameters.")
			}
			var out []any
			for _, p := range strings.Split(s[0], s[1]) {
				out = append(out, p)
			}
			return out, nil
		},
		"join": func(e *env, n string, a []any) (any, error) {
			if err := arity(n, a, 2, 2); err != nil {
				return nil, err
			}
			arr, ok := a[0].([]any)
			sep, ok2 := a[1].(string)
			if !ok || !ok2 {
				return nil, errf("The template language function 'join' expects an array and a string.")
			}
			var parts []string
			for _, x := range arr {
				s, err := scalar(n, x)
				if err != nil {
					return nil, err
				}
				parts = append(parts, s)
			}
			return strings.Join(parts, sep), nil
		},
		"substring": func(e *env, n string, a []any) (any, error) {
			if err := arity(n, a, 1, 3); err != nil {
				return nil, err
			}
			s, ok := a[0].(string)
			if !ok {
				return nil, errf("The template language function 'substring' expects its first parameter to be a string.")
			}
			r := []rune(s)
			start, length := int64(0), int64(-1)
			if len(a) > 1 {
				if start, ok = a[1].(int64); !ok {
					return nil, errf("The template language function 'substring' expects an integer start index.")
				}
			}
			if len(a) > 2 {
				if length, ok = a[2].(int64); !ok {
					return nil, errf("The template language function 'substring' expects an integer length.")
				}
			} else {
				length = int64(len(r)) - start
			}
			if start < 0 || length < 0 || start+length > int64(len(r)) {
				return nil, errf("The index and length parameters must refer to a location within the string. The index parameter: '%d', the length parameter: '%d', the length of the string parameter: '%d'.", start, length, len(r))
			}
			return string(r[start : start+length]), nil
		},
		"first": func(e *env, n string, a []any) (any, error) { return end(n, a, true) },
		"last":  func(e *env, n string, a []any) (any, error) { return end(n, a, false) },
		"coalesce": func(e *env, n string, a []any) (any, error) {
			for _, x := range a {
				if x != nil {
					return x, nil
				}
			}
			return nil, nil
		},
		"union": func(e *env, n string, a []any) (any, error) {
			if len(a) == 0 {
				return nil, errf("The template language function 'union' must have at least one parameter.")
			}
			if _, ok := a[0].([]any); ok {
				var out []any
				for _, x := range a {
					arr, ok := x.([]any)
					if !ok {
						return nil, errf("The template language function 'union' expects all arrays or all objects.")
					}
					for _, y := range arr {
						if !contains(out, y) {
							out = append(out, y)
						}
					}
				}
				return nonNil(out), nil
			}
			out := map[string]any{}
			for _, x := range a {
				m, ok := x.(map[string]any)
				if !ok {
					return nil, errf("The template language function 'union' expects all arrays or all objects.")
				}
				for k, v := range m {
					out[k] = v
				}
			}
			return out, nil
		},
		"add":             arith(func(a, b int64) (int64, bool) { return a + b, true }),
		"sub":             arith(func(a, b int64) (int64, bool) { return a - b, true }),
		"mul":             arith(func(a, b int64) (int64, bool) { return a * b, true }),
		"div":             arith(func(a, b int64) (int64, bool) { return safeDiv(a, b, false) }),
		"mod":             arith(func(a, b int64) (int64, bool) { return safeDiv(a, b, true) }),
		"less":            compare(func(c int) bool { return c < 0 }),
		"lessorequals":    compare(func(c int) bool { return c <= 0 }),
		"greater":         compare(func(c int) bool { return c > 0 }),
		"greaterorequals": compare(func(c int) bool { return c >= 0 }),
	}
}

// Functions lists the template functions berth evaluates, by their
// lower-case names, if included.
func Functions() []string {
	out := []string{"if"}
	for k := range functions {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func arity(name string, a []any, lo, hi int) error {
	if len(a) < lo || hi >= 0 && len(a) > hi {
		switch {
		case lo == hi:
			return errf("The template language function '%s' must have %d parameters.", name, lo)
		case hi < 0:
			return errf("The template language function '%s' must have at least %d parameters.", name, lo)
		}
		return errf("The template language function '%s' must have from %d to %d parameters.", name, lo, hi)
	}
	return nil
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errf("%s", msg)
}

func oneString(name string, a []any) (string, error) {
	if err := arity(name, a, 1, 1); err != nil {
		return "", err
	}
	s, ok := a[0].(string)
	if !ok {
		return "", errf("The template language function '%s' expects its parameter to be a string, not '%s'.", name, typeName(a[0]))
	}
	return s, nil
}

// strings_ takes at least lo arguments, all strings.
func strings_(name string, a []any, lo int) ([]string, error) {
	if err := arity(name, a, lo, -1); err != nil {
		return nil, err
	}
	out := make([]string, len(a))
	for i, x := range a {
		s, ok := x.(string)
		if !ok {
			return nil, errf("The template language function '%s' expects its parameters to be strings; parameter %d is '%s'.", name, i+1, typeName(x))
		}
		out[i] = s
	}
	return out, nil
}

func stringFunc(f func(string) string) function {
	return func(e *env, n string, a []any) (any, error) {
		s, err := oneString(n, a)
		if err != nil {
			return nil, err
		}
		return f(s), nil
	}
}

func twoStrings(f func(a, b string) any) function {
	return func(e *env, n string, a []any) (any, error) {
		s, err := strings_(n, a, 2)
		if err != nil || len(s) != 2 {
			return nil, errOr(err, "The template language function '"+n+"' must have 2 parameters.")
		}
		return f(s[0], s[1]), nil
	}
}

// hashFunc is guid or uniqueString: at least one argument, each a string.
func hashFunc(f func([]string) string) function {
	return func(e *env, n string, a []any) (any, error) {
		s, err := strings_(n, a, 1)
		if err != nil {
			return nil, err
		}
		return f(s), nil
	}
}

func constant(v any) function {
	return func(e *env, n string, a []any) (any, error) {
		if err := arity(n, a, 0, 0); err != nil {
			return nil, err
		}
		return v, nil
	}
}

func bools(name string, a []any, lo, hi int) ([]bool, error) {
	if err := arity(name, a, lo, hi); err != nil {
		return nil, err
	}
	out := make([]bool, len(a))
	for i, x := range a {
		b, ok := x.(bool)
		if !ok {
			return nil, errf("The template language function '%s' expects boolean parameters; parameter %d is '%s'.", name, i+1, typeName(x))
		}
		out[i] = b
	}
	return out, nil
}

func arith(f func(a, b int64) (int64, bool)) function {
	return func(e *env, n string, a []any) (any, error) {
		if err := arity(n, a, 2, 2); err != nil {
			return nil, err
		}
		x, ok1 := a[0].(int64)
		y, ok2 := a[1].(int64)
		if !ok1 || !ok2 {
			return nil, errf("The template language function '%s' expects integer parameters.", n)
		}
		v, ok := f(x, y)
		if !ok {
			return nil, errf("The template language function '%s' cannot divide by zero.", n)
		}
		return v, nil
	}
}

func safeDiv(a, b int64, mod bool) (int64, bool) {
	if b == 0 || b == -1 && a == -1<<63 {
		return 0, false
	}
	if mod {
		return a % b, true
	}
	return a / b, true
}

func compare(f func(int) bool) function {
	return func(e *env, n string, a []any) (any, error) {
		if err := arity(n, a, 2, 2); err != nil {
			return nil, err
		}
		if x, ok := a[0].(int64); ok {
			if y, ok := a[1].(int64); ok {
				switch {
				case x < y:
					return f(-1), nil
				case x > y:
					return f(1), nil
				}
				return f(0), nil
			}
		}
		if x, ok := a[0].(string); ok {
			if y, ok := a[1].(string); ok {
				return f(strings.Compare(x, y)), nil
			}
		}
		return nil, errf("The template language function '%s' expects two integers or two strings.", n)
	}
}

func end(name string, a []any, first bool) (any, error) {
	if err := arity(name, a, 1, 1); err != nil {
		return nil, err
	}
	switch x := a[0].(type) {
	case string:
		r := []rune(x)
		if len(r) == 0 {
			return "", nil
		}
		if first {
			return string(r[0]), nil
		}
		return string(r[len(r)-1]), nil
	case []any:
		if len(x) == 0 {
			return nil, nil
		}
		if first {
			return x[0], nil
		}
		return x[len(x)-1], nil
	}
	return nil, errf("The template language function '%s' expects a string or an array.", name)
}

func nonNil(a []any) []any {
	if a == nil {
		return []any{}
	}
	return a
}

func contains(a []any, v any) bool {
	for _, x := range a {
		if equal(x, v) {
			return true
		}
	}
	return false
}

// equal compares values as JSON: integers and floats by value.
func equal(a, b any) bool { return reflect.DeepEqual(a, b) }

// scalar is a string, integer or boolean as concat and format write it.
func scalar(name string, v any) (string, error) {
	switch v.(type) {
	case string, int64, float64, bool:
		return display(v), nil
	}
	return "", errf("The template language function '%s' expects strings, integers or booleans, not '%s'.", name, typeName(v))
}

// display writes a value as string() does: booleans as True and False,
// objects and arrays as JSON.
func display(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "True"
		}
		return "False"
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// format fills {0}, {1}... with its arguments; {{ and }} are braces.
// Format specifiers ({0:D2}) are refused.
func format(e *env, n string, a []any) (any, error) {
	if err := arity(n, a, 1, -1); err != nil {
		return nil, err
	}
	f, ok := a[0].(string)
	if !ok {
		return nil, errf("The template language function 'format' expects its first parameter to be a string.")
	}
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '{' && i+1 < len(f) && f[i+1] == '{', c == '}' && i+1 < len(f) && f[i+1] == '}':
			b.WriteByte(c)
			i++
		case c == '{':
			j := strings.IndexByte(f[i:], '}')
			if j < 0 {
				return nil, errf("The format string '%s' is not valid: a '{' is not closed.", f)
			}
			k, err := strconv.Atoi(f[i+1 : i+j])
			if err != nil || k < 0 || k+1 >= len(a) {
				return nil, errf("The format string '%s' is not valid: '%s' is not the index of an argument (format specifiers are not supported).", f, f[i:i+j+1])
			}
			s, err := scalar(n, a[k+1])
			if err != nil {
				return nil, err
			}
			b.WriteString(s)
			i += j
		case c == '}':
			return nil, errf("The format string '%s' is not valid: a '}' is not opened.", f)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// copyIndex is the index in the copy loop named, or the resource's own,
// plus an optional offset.
func copyIndex(e *env, n string, a []any) (any, error) {
	if err := arity(n, a, 0, 2); err != nil {
		return nil, err
	}
	loop, offset := e.current, int64(0)
	for _, x := range a {
		switch v := x.(type) {
		case string:
			loop = strings.ToLower(v)
		case int64:
			offset = v
		default:
			return nil, errf("The template language function 'copyIndex' expects a loop name and an integer offset.")
		}
	}
	i, ok := e.loops[loop]
	if loop == "" || !ok {
		return nil, errf("The template function 'copyIndex' is not expected at this location. Please see https://aka.ms/arm-copy for usage details.")
	}
	return i + offset, nil
}

// resourceID is resourceId([subscriptionId], [resourceGroupName],
// resourceType, name...): the type is the first argument with a slash.
func resourceID(e *env, n string, a []any) (any, error) {
	s, err := strings_(n, a, 2)
	if err != nil {
		return nil, err
	}
	t := -1
	for i, x := range s {
		if strings.Contains(x, "/") {
			t = i
			break
		}
	}
	if t < 0 || t > 2 {
		return nil, errf("Unable to evaluate template language function 'resourceId': the type '%s' is not valid.", s[0])
	}
	sub, group := e.ev.scope.SubscriptionID, e.ev.scope.ResourceGroup
	switch t {
	case 1:
		group = s[0]
	case 2:
		sub, group = s[0], s[1]
	}
	return typedID("/subscriptions/"+sub+"/resourceGroups/"+group, s[t], s[t+1:], n)
}

func subscriptionResourceID(e *env, n string, a []any) (any, error) {
	s, err := strings_(n, a, 2)
	if err != nil {
		return nil, err
	}
	sub := e.ev.scope.SubscriptionID
	if !strings.Contains(s[0], "/") {
		sub, s = s[0], s[1:]
	}
	return typedID("/subscriptions/"+sub, s[0], s[1:], n)
}

// typedID is base/providers/Namespace/t1/n1/t2/n2...
func typedID(base, typ string, names []string, fn string) (any, error) {
	types := strings.Split(typ, "/")
	if len(types) < 2 || len(types)-1 != len(names) {
		return nil, errf("Unable to evaluate template language function '%s': the type '%s' requires '%d' resource name argument(s).", fn, typ, max(len(types)-1, 1))
	}
	var b strings.Builder
	b.WriteString(base + "/providers/" + types[0])
	for i, nm := range names {
		b.WriteString("/" + types[i+1] + "/" + nm)
	}
	return b.String(), nil
}

// reference reads a deployed resource: by id, or by the name of a
// resource of the template.
func reference(e *env, n string, a []any) (any, error) {
	if err := arity(n, a, 1, 3); err != nil {
		return nil, err
	}
	if e.ref == nil {
		return nil, errf("The template function 'reference' is not expected at this location. Please see https://aka.ms/arm-template-expressions for usage details.")
	}
	target, ok := a[0].(string)
	if !ok || target == "" {
		return nil, errf("The template language function 'reference' expects a resource name or id.")
	}
	full := len(a) == 3 && strings.EqualFold(fmt.Sprint(a[2]), "full")
	id := target
	if !strings.HasPrefix(target, "/") {
		id = ""
		for _, r := range e.ev.plan.Resources {
			if strings.EqualFold(r.Name, target) {
				id = r.ID
				break
			}
		}
		if id == "" {
			return nil, errf("The resource '%s' that reference() names is not defined in the template; name a resource of another deployment by its id.", target)
		}
	}
	return e.ref(id, full)
}
