package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/berthhq/berth/internal/cli"
)

// The help is laid out as the cloud CLI's: a heading, then "name : text"
// rows, the text wrapped at helpWidth and aligned at one column per page.
const (
	helpWidth   = 100
	helpIndent  = "    "
	maxNameCols = 30
)

func writeGroupHelp(w io.Writer, n *node) {
	fmt.Fprintf(w, "\nGroup\n")
	writeSummary(w, n)
	var groups, cmds [][2]string
	for _, c := range n.children {
		row := [2]string{c.name, c.cmd.summary}
		if c.isGroup() {
			groups = append(groups, row)
		} else {
			cmds = append(cmds, row)
		}
	}
	width := columns(append(slices.Clone(groups), cmds...))
	writeRows(w, "Subgroups:", groups, width)
	writeRows(w, "Commands:", cmds, width)
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's arguments.\n\n", n.path)
}

func writeCommandHelp(w io.Writer, n *node) {
	fmt.Fprintf(w, "\nCommand\n")
	writeSummary(w, n)
	f, _ := n.flagSet(&globals{})
	var own, global [][2]string
	for _, s := range sortedSpecs(f.specs) {
		if s.global {
			global = append(global, flagRow(f, s))
		} else {
			own = append(own, flagRow(f, s))
		}
	}
	global = append(global, [2]string{"--help -h", "Show this help message and exit."})
	slices.SortFunc(global, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	width := columns(append(slices.Clone(own), global...))
	writeRows(w, "Arguments", own, width)
	writeRows(w, "Global Arguments", global, width)
	if len(n.cmd.examples) > 0 {
		fmt.Fprintf(w, "\nExamples\n")
		for _, e := range n.cmd.examples {
			fmt.Fprintf(w, "%s%s\n%s%s%s\n\n", helpIndent, e.what, helpIndent, helpIndent, e.line)
		}
	} else {
		fmt.Fprintln(w)
	}
}

// writeSummary is the heading's one row: the group's or command's words,
// its positional arguments, and its summary, with more under it.
func writeSummary(w io.Writer, n *node) {
	head := strings.Join(append([]string{n.path}, n.cmd.args...), " ")
	fmt.Fprintf(w, "%s\n", wrap(helpIndent+head+" : ", n.cmd.summary))
	if n.cmd.more != "" {
		fmt.Fprintf(w, "%s\n", wrap(helpIndent+helpIndent, n.cmd.more))
	}
}

// sortedSpecs puts the required flags first, then the others, each by
// name, as the cloud CLI's help does.
func sortedSpecs(specs []*flagSpec) []*flagSpec {
	out := slices.Clone(specs)
	slices.SortStableFunc(out, func(a, b *flagSpec) int {
		if a.required != b.required {
			if a.required {
				return -1
			}
			return 1
		}
		return strings.Compare(a.names[0], b.names[0])
	})
	return out
}

// flagRow is a flag's names, long ones first, with [Required], and its
// help with the default it has, if any.
func flagRow(f *flagSet, s *flagSpec) [2]string {
	var names []string
	for _, n := range s.names {
		names = append(names, dashes(n)+n)
	}
	name := strings.Join(names, " ")
	if s.required {
		name += " [Required]"
	}
	text := s.help
	if def := f.fs.Lookup(s.names[0]).DefValue; s.kind != boolean && def != "" && def != "0" && def != "0s" {
		text += "  Default: " + def + "."
	}
	if s.env != "" {
		text += "  Default: $" + s.env + "."
	}
	return [2]string{name, text}
}

// columns is the width of the name column: the longest name, up to
// maxNameCols; longer names push their own row's text right.
func columns(rows [][2]string) int {
	width := 0
	for _, r := range rows {
		if l := len(r[0]); l > width && l <= maxNameCols {
			width = l
		}
	}
	return width
}

func writeRows(w io.Writer, title string, rows [][2]string, width int) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	for _, r := range rows {
		fmt.Fprintf(w, "%s\n", wrap(fmt.Sprintf("%s%-*s : ", helpIndent, width, r[0]), r[1]))
	}
}

// wrap writes text after prefix, wrapped at helpWidth with every further
// line indented to where the text began.
func wrap(prefix, text string) string {
	var b strings.Builder
	b.WriteString(prefix)
	col := len(prefix)
	indent := strings.Repeat(" ", col)
	for i, word := range strings.Fields(text) {
		if i > 0 && col+1+len(word) > helpWidth {
			b.WriteString("\n" + indent)
			col = len(indent)
		} else if i > 0 {
			b.WriteString(" ")
			col++
		}
		b.WriteString(word)
		col += len(word)
	}
	return strings.TrimRight(b.String(), " ")
}

// nearest is the candidate closest to a mistyped word, or "": of those
// as close, the one sharing the longest beginning with it. One letter is
// too little to guess from, or to guess.
func nearest(word string, candidates []string) string {
	if len(word) < 2 {
		return ""
	}
	var long []string
	for _, c := range candidates {
		if len(c) > 1 {
			long = append(long, c)
		}
	}
	slices.SortStableFunc(long, func(a, b string) int { return commonPrefix(word, b) - commonPrefix(word, a) })
	if near := cli.NearMatches(word, long); len(near) > 0 {
		return near[0]
	}
	return ""
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
