package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/jmespath/go-jmespath"
)

// Output writes v as the cloud CLI would: filtered by a JMESPath query,
// then as json (indented), tsv (a scalar bare, so `X=$(berth ... -o tsv)`
// works; an object's values tab-separated; a list one line per element),
// table or nothing.
func Output(w io.Writer, v any, query, format string) error {
	if err := CheckOutput(query, format); err != nil {
		return err
	}
	// Round-trip through JSON so the query sees the wire field names.
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var data any
	if err := json.Unmarshal(b, &data); err != nil {
		return err
	}
	if query != "" {
		if data, err = jmespath.Search(query, data); err != nil {
			return fmt.Errorf("--query: %w", err)
		}
	}
	switch format {
	case "tsv":
		return writeTSV(w, data)
	case "table":
		return writeTable(w, data)
	case "none":
		return nil
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(data)
}

// CheckOutput reports a query or format Output would refuse, so that a
// command can refuse it before it changes anything.
func CheckOutput(query, format string) error {
	if query != "" {
		if _, err := jmespath.Compile(query); err != nil {
			return fmt.Errorf("--query: %w", err)
		}
	}
	switch format {
	case "", "json", "tsv", "table", "none":
		return nil
	}
	return fmt.Errorf("--output must be json, tsv, table or none, not %q", format)
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", x), "0"), ".")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// sortedKeys gives objects a stable column order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func tsvLine(v any) string {
	if row, ok := v.([]any); ok {
		// A list of lists, as '[].[a, b]' makes: one row per element.
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = scalar(c)
		}
		return strings.Join(cells, "\t")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return scalar(v)
	}
	var cells []string
	for _, k := range sortedKeys(m) {
		switch m[k].(type) {
		case map[string]any, []any:
			continue // nested values are left out, as the cloud CLI does
		}
		cells = append(cells, scalar(m[k]))
	}
	return strings.Join(cells, "\t")
}

func writeTSV(w io.Writer, data any) error {
	if list, ok := data.([]any); ok {
		for _, item := range list {
			if _, err := fmt.Fprintln(w, tsvLine(item)); err != nil {
				return err
			}
		}
		return nil
	}
	_, err := fmt.Fprintln(w, tsvLine(data))
	return err
}

func writeTable(w io.Writer, data any) error {
	rows, ok := data.([]any)
	if !ok {
		rows = []any{data}
	}
	var cols []string
	seen := map[string]bool{}
	for _, r := range rows {
		if m, ok := r.(map[string]any); ok {
			for _, k := range sortedKeys(m) {
				switch m[k].(type) {
				case map[string]any, []any:
					continue
				}
				if !seen[k] {
					seen[k] = true
					cols = append(cols, k)
				}
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(cols) == 0 {
		fmt.Fprintln(tw, "Result")
		fmt.Fprintln(tw, "------")
		for _, r := range rows {
			fmt.Fprintln(tw, scalar(r))
		}
		return tw.Flush()
	}
	title := make([]string, len(cols))
	rule := make([]string, len(cols))
	for i, c := range cols {
		title[i] = strings.ToUpper(c[:1]) + c[1:]
		rule[i] = strings.Repeat("-", len(c))
	}
	fmt.Fprintln(tw, strings.Join(title, "\t"))
	fmt.Fprintln(tw, strings.Join(rule, "\t"))
	for _, r := range rows {
		m, _ := r.(map[string]any)
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = scalar(m[c])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
