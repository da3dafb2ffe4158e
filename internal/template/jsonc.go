package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// JSONC turns the relaxed JSON that templates are written in, and that
// the cloud's CLI sends them as, into JSON: comments (// and /* */) go,
// unquoted property names get quotes, and a comma before a closing
// bracket goes.
func JSONC(in []byte) ([]byte, error) {
	out := make([]byte, 0, len(in))
	pendingComma := false
	flush := func(next byte) {
		if pendingComma && next != '}' && next != ']' {
			out = append(out, ',')
		}
		pendingComma = false
	}
	for i := 0; i < len(in); {
		c := in[i]
		switch {
		case c == '"':
			flush(c)
			j := i + 1
			for ; j < len(in) && in[j] != '"'; j++ {
				if in[j] == '\\' {
					j++
				}
			}
			if j >= len(in) {
				return nil, errors.New("a string is not closed")
			}
			out = append(out, in[i:j+1]...)
			i = j + 1
		case c == '/' && i+1 < len(in) && in[i+1] == '/':
			j := bytes.IndexByte(in[i:], '\n')
			if j < 0 {
				j = len(in) - i
			}
			i += j
		case c == '/' && i+1 < len(in) && in[i+1] == '*':
			j := bytes.Index(in[i+2:], []byte("*/"))
			if j < 0 {
				return nil, errors.New("a comment is not closed")
			}
			i += j + 4
		case c == ',':
			if pendingComma {
				return nil, fmt.Errorf("two commas at offset %d", i)
			}
			pendingComma = true
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '-' || c >= '0' && c <= '9':
			flush(c)
			j := i + 1
			for j < len(in) && bytes.IndexByte([]byte("0123456789.eE+-"), in[j]) >= 0 {
				j++
			}
			out = append(out, in[i:j]...)
			i = j
		case c == '$' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			flush(c)
			j := i
			for j < len(in) && (in[j] == '$' || in[j] == '_' || in[j] == '-' || in[j] >= 'a' && in[j] <= 'z' || in[j] >= 'A' && in[j] <= 'Z' || in[j] >= '0' && in[j] <= '9') {
				j++
			}
			word := string(in[i:j])
			if word == "true" || word == "false" || word == "null" {
				out = append(out, word...)
			} else {
				out = strconv.AppendQuote(out, word)
			}
			i = j
		default:
			flush(c)
			out = append(out, c)
			i++
		}
	}
	if pendingComma {
		out = append(out, ',')
	}
	return out, nil
}

// decodeJSON reads a JSON value into the evaluator's values: numbers
// that are integers become int64, others float64.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("there is more after the value")
	}
	return numbers(v), nil
}

// Value converts a value decoded from JSON (with float64 or json.Number
// numbers) to the evaluator's values.
func Value(v any) any { return numbers(v) }

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
		return x
	case int:
		return int64(x)
	case []any:
		for i := range x {
			x[i] = numbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = numbers(x[k])
		}
	}
	return v
}
