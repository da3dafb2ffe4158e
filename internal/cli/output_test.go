package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestOutput(t *testing.T) {
	v := map[string]any{"appId": "a1", "password": "p w", "tenant": "t1", "n": 3, "ok": true, "nested": map[string]any{"x": 1}}
	cases := []struct{ query, format, want string }{
		{"appId", "tsv", "a1\n"},
		{"password", "tsv", "p w\n"},
		{"n", "tsv", "3\n"},
		{"ok", "tsv", "True\n"},
		{"", "tsv", "a1\t3\tTrue\tp w\tt1\n"},
		{"[appId, tenant]", "tsv", "a1\nt1\n"},
		{"[[appId, tenant]]", "tsv", "a1\tt1\n"},
		{"appId", "json", "\"a1\"\n"},
		{"{id: appId}", "json", "{\n  \"id\": \"a1\"\n}\n"},
		{"appId", "none", ""},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		if err := Output(&buf, v, c.query, c.format); err != nil {
			t.Fatalf("%q %s: %v", c.query, c.format, err)
		}
		if buf.String() != c.want {
			t.Errorf("%q -o %s = %q, want %q", c.query, c.format, buf.String(), c.want)
		}
	}
	var buf bytes.Buffer
	if err := Output(&buf, []map[string]any{{"name": "x", "id": 1}, {"name": "y", "id": 2}}, "", "table"); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "Id") || !strings.Contains(lines[3], "y") {
		t.Errorf("table:\n%s", buf.String())
	}
	if err := Output(&buf, v, "[", "json"); err == nil || !strings.Contains(err.Error(), "--query") {
		t.Errorf("bad query: %v", err)
	}
	if err := Output(&buf, v, "", "yaml"); err == nil {
		t.Error("unknown output format accepted")
	}
}
