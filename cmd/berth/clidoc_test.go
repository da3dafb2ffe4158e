package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The command reference in docs/cli.md is generated from the command
// table: the page's prose ends at cliReferenceMarker, and everything after
// it is cliReference's. go generate ./cmd/berth rewrites it.
//
//go:generate go test -run TestCLIReference -update .

const (
	cliDoc             = "../../docs/cli.md"
	cliReferenceMarker = "<!-- Everything below is generated from the command table (cmd/berth) by `go generate ./cmd/berth`. Do not edit it here. -->\n"
)

var update = flag.Bool("update", false, "rewrite docs/cli.md's command reference from the command table")

func TestCLIReference(t *testing.T) {
	page, err := os.ReadFile(cliDoc)
	if err != nil {
		t.Fatal(err)
	}
	prose, _, ok := strings.Cut(string(page), cliReferenceMarker)
	if !ok {
		t.Fatalf("docs/cli.md has no line %q to put the reference after", cliReferenceMarker)
	}
	// Defaults that come from where the test runs are written as a
	// reader's would be: the data directory under ~.
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "~")
	want := prose + cliReferenceMarker + cliReference(tree(commands()))
	if *update {
		if err := os.WriteFile(cliDoc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(page) != want {
		t.Errorf("docs/cli.md's command reference is not the command table's: regenerate it with\n\n\tgo generate ./cmd/berth\n")
	}
}

// cliReference is every group and command, depth first, with what their
// help shows: summary, arguments with defaults, and examples.
func cliReference(root *node) string {
	var b strings.Builder
	b.WriteString("\n## Reference\n\n")
	var toc func(n *node, depth int)
	toc = func(n *node, depth int) {
		for _, c := range n.children {
			fmt.Fprintf(&b, "%s- [%s](#%s): %s\n", strings.Repeat("  ", depth), c.path, strings.ReplaceAll(c.path, " ", "-"), c.cmd.summary)
			toc(c, depth+1)
		}
	}
	toc(root, 0)
	var walk func(n *node)
	walk = func(n *node) {
		for _, c := range n.children {
			writeReference(&b, c)
			walk(c)
		}
	}
	walk(root)
	return b.String()
}

func writeReference(b *strings.Builder, n *node) {
	fmt.Fprintf(b, "\n### %s\n\n%s\n", n.path, n.cmd.summary)
	if n.cmd.more != "" {
		fmt.Fprintf(b, "\n%s\n", n.cmd.more)
	}
	if n.isGroup() {
		return
	}
	if len(n.cmd.args) > 0 {
		fmt.Fprintf(b, "\n```\n%s %s\n```\n", n.path, strings.Join(n.cmd.args, " "))
	}
	f, _ := n.flagSet(&globals{})
	var own []*flagSpec
	for _, s := range sortedSpecs(f.specs) {
		if !s.global {
			own = append(own, s)
		}
	}
	if len(own) > 0 {
		b.WriteString("\n| argument | |\n| --- | --- |\n")
		for _, s := range own {
			var names []string
			for _, name := range s.names {
				names = append(names, "`"+dashes(name)+name+"`")
			}
			name := strings.Join(names, ", ")
			if s.required {
				name += " (required)"
			}
			fmt.Fprintf(b, "| %s | %s |\n", name, strings.ReplaceAll(flagRow(f, s)[1], "|", `\|`))
		}
	}
	if !n.cmd.local {
		if n.cmd.ownOutput {
			b.WriteString("\nAlso `--server` and `--ca-file` ([global arguments](#global-arguments)).\n")
		} else {
			b.WriteString("\nAlso the [global arguments](#global-arguments).\n")
		}
	}
	if len(n.cmd.examples) > 0 {
		b.WriteString("\n```sh\n")
		for i, e := range n.cmd.examples {
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(b, "# %s\n%s\n", e.what, e.line)
		}
		b.WriteString("```\n")
	}
}
