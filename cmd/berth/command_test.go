package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/cli"
)

// testRun runs a table the way run runs berth's, returning the exit code
// and what was written to stdout and stderr.
func testRun(table []command, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = dispatch(tree(table), args, streams{strings.NewReader(""), &out, &errOut})
	return code, out.String(), errOut.String()
}

// sample is a small table exercising every kind of flag; its commands
// record what they were run with in got.
func sample(got *map[string]any) []command {
	return []command{
		{summary: "The tool."},
		{words: "box", summary: "Manage boxes."},
		{
			words:   "box create",
			summary: "Create a box.",
			examples: []example{
				{"A blue box.", "berth box create --name b --color blue"},
			},
			flags: func(f *flagSet) runFunc {
				name := f.String("name n", "The box's name.", required)
				color := f.String("color", "The box's color.", required)
				size := f.Int("size", "The box's size.", 3)
				lid := f.Bool("lid", "Give it a lid.")
				open := f.OptionalBool("open", "Open (true) or close (false) it.")
				tags := f.List("tags", "Tags, space-separated.")
				assign, ids := f.OptionalList("assign", "Assign owners: alone the default one.")
				secret := f.String("secret", "A secret.", fromEnv("BERTH_TEST_SECRET"))
				return func(c *call) (any, error) {
					*got = map[string]any{"name": *name, "color": *color, "size": *size, "lid": *lid, "open": *open,
						"tags": *tags, "assign": assign(), "ids": *ids, "secret": *secret}
					return map[string]any{"name": *name, "size": *size}, nil
				}
			},
		},
		{
			words:   "box list",
			summary: "List boxes.",
			run: func(c *call) (any, error) {
				*got = map[string]any{"listed": true}
				return []map[string]any{{"name": "a"}, {"name": "b"}}, nil
			},
		},
		{
			words:   "box open",
			summary: "Open a box file.",
			args:    []string{"FILE"},
			local:   true,
			run: func(c *call) (any, error) {
				*got = map[string]any{"file": c.args[0]}
				return nil, nil
			},
		},
	}
}

func TestRunnerParsesTheCloudCLIGrammar(t *testing.T) {
	t.Setenv("BERTH_TEST_SECRET", "")
	var got map[string]any
	code, out, errOut := testRun(sample(&got), "box", "create", "-n", "b1", "--color=red", "--size", "5", "--lid", "false",
		"--open", "true", "--tags", "x", "y", "--tags", "z", "--assign", "--secret", "-s3cret", "-o", "tsv", "--query", "size")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "5\n" {
		t.Errorf("output %q, want the size alone, as --query size -o tsv prints it", out)
	}
	open, _ := got["open"].(*bool)
	if got["name"] != "b1" || got["color"] != "red" || got["size"] != 5 || got["lid"] != false || open == nil || !*open ||
		!slices.Equal(got["tags"].([]string), []string{"x", "y", "z"}) || got["assign"] != true || len(got["ids"].([]string)) != 0 ||
		got["secret"] != "-s3cret" {
		t.Errorf("parsed %v", got)
	}

	code, _, errOut = testRun(sample(&got), "box", "create", "--name", "b2", "-color", "red", "--assign", "o1", "o2", "--lid")
	if code != 0 || got["assign"] != true || !slices.Equal(got["ids"].([]string), []string{"o1", "o2"}) || got["lid"] != true || got["open"].(*bool) != nil {
		t.Errorf("exit %d %s: %v", code, errOut, got)
	}
	code, _, _ = testRun(sample(&got), "box", "create", "--name", "b3", "--color", "red")
	if code != 0 || got["assign"] != false || got["size"] != 3 {
		t.Errorf("defaults: exit %d: %v", code, got)
	}
}

func TestRunnerRefusesBadCommandLinesBeforeRunning(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"box", "create", "--color", "red"}, 1, "berth: berth box create: --name is required\n"},
		{[]string{"box", "create", "--name", "", "--color", "red"}, 1, "--name is required"},
		{[]string{"box", "create", "-n", "b"}, 1, "--color is required"},
		{[]string{"box", "create", "-n", "b", "--color", "red", "-o", "yaml"}, 1, "--output must be json, tsv, table or none"},
		{[]string{"box", "create", "-n", "b", "--color", "red", "--query", "[", "-o", "tsv"}, 1, "--query"},
		{[]string{"box", "create", "-n", "b", "--color", "red", "--size", "big"}, 2, `--size: "big" is not valid`},
		{[]string{"box", "create", "-n", "b", "--color"}, 2, "--color needs a value"},
		{[]string{"box", "create", "--color", "red", "-n"}, 2, "berth box create: -n needs a value"},
		{[]string{"box", "create", "-n", "b", "--colour", "red"}, 2, "unknown flag --colour; did you mean --color?\nRun 'berth box create --help' for its arguments.\n"},
		{[]string{"box", "create", "-n", "b", "--zzzzzz"}, 2, "unknown flag --zzzzzz\n"},
		{[]string{"box", "create", "-n", "b", "--color", "red", "stray"}, 2, "unexpected arguments: stray"},
		{[]string{"box", "crate"}, 2, `berth box: "crate" is not a command; did you mean "create"?` + "\nRun 'berth box --help' for its commands.\n"},
		{[]string{"bx"}, 2, `did you mean "box"?`},
		{[]string{"box", "open"}, 2, "berth box open: FILE is missing"},
		{[]string{"box", "open", "f", "g"}, 2, "unexpected arguments: g"},
	} {
		got := map[string]any{"run": false}
		code, out, errOut := testRun(sample(&got), tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errOut, tc.code, tc.msg)
		}
		if got["run"] != false {
			t.Errorf("%q: the command ran: %v", tc.args, got)
		}
	}
}

func TestRunnerEnvironmentDefaults(t *testing.T) {
	var got map[string]any
	t.Setenv("BERTH_TEST_SECRET", "from-env")
	if code, _, errOut := testRun(sample(&got), "box", "create", "-n", "b", "--color", "red"); code != 0 || got["secret"] != "from-env" {
		t.Errorf("exit %d %s: secret %q, want the environment's", code, errOut, got["secret"])
	}
	if code, _, _ := testRun(sample(&got), "box", "create", "-n", "b", "--color", "red", "--secret", "flag"); code != 0 || got["secret"] != "flag" {
		t.Errorf("secret %q, want the flag's over the environment's", got["secret"])
	}
	_, out, _ := testRun(sample(&got), "box", "create", "--help")
	if !strings.Contains(out, "Default: $BERTH_TEST_SECRET.") || strings.Contains(out, "from-env") {
		t.Errorf("help should name the variable and never show its value:\n%s", out)
	}
}

func TestRunnerHelp(t *testing.T) {
	var got map[string]any
	for _, args := range [][]string{{"box", "create", "--help"}, {"box", "create", "-h"}, {"box", "create", "-n", "x", "-h"}} {
		code, out, errOut := testRun(sample(&got), args...)
		if code != 0 || errOut != "" || got != nil {
			t.Fatalf("%q: exit %d, stderr %q, ran %v", args, code, errOut, got)
		}
		for _, want := range []string{
			"\nCommand\n    berth box create : Create a box.\n",
			"\nArguments\n    --color [Required]   : The box's color.\n    --name -n [Required] : The box's name.\n",
			"    --size               : The box's size. Default: 3.\n",
			"    --tags               : Tags, space-separated.\n",
			"\nGlobal Arguments\n    --ca-file            : The CA certificate",
			"    --help -h            : Show this help message and exit.\n    --output -o          : Output format: json, tsv, table or none. Default: json.\n",
			"    --server             : Berth's address, https://HOST:PORT, if not the login's",
			"\nExamples\n    A blue box.\n        berth box create --name b --color blue\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%q: help lacks %q:\n%s", args, want, out)
			}
		}
	}

	groupHelp := "\nGroup\n    berth box : Manage boxes.\n\nCommands:\n    create : Create a box.\n    list   : List boxes.\n    open   : Open a box file.\n"
	if code, out, _ := testRun(sample(&got), "box", "--help"); code != 0 || !strings.HasPrefix(out, groupHelp) {
		t.Errorf("box --help: exit %d:\n%s", code, out)
	}
	// A group alone is a command line that runs nothing: its help, on
	// stderr, and the usage exit code.
	if code, out, errOut := testRun(sample(&got), "box"); code != 2 || out != "" || !strings.HasPrefix(errOut, groupHelp) {
		t.Errorf("box: exit %d, stdout %q:\n%s", code, out, errOut)
	}
	if code, _, errOut := testRun(sample(&got)); code != 2 || !strings.Contains(errOut, "\nSubgroups:\n    box : Manage boxes.\n") {
		t.Errorf("no arguments: exit %d:\n%s", code, errOut)
	}
	if _, out, _ := testRun(sample(&got), "box", "open", "--help"); !strings.Contains(out, "berth box open FILE : Open a box file.") || strings.Contains(out, "--output") {
		t.Errorf("a local command's help names its argument and has no output flags:\n%s", out)
	}
}

func TestRunnerOutput(t *testing.T) {
	var got map[string]any
	code, out, _ := testRun(sample(&got), "box", "list")
	if code != 0 || out != "[\n  {\n    \"name\": \"a\"\n  },\n  {\n    \"name\": \"b\"\n  }\n]\n" {
		t.Errorf("exit %d, json output %q", code, out)
	}
	if _, out, _ = testRun(sample(&got), "box", "list", "-o", "tsv"); out != "a\nb\n" {
		t.Errorf("tsv output %q", out)
	}
	if _, out, _ = testRun(sample(&got), "box", "list", "-o", "none"); out != "" {
		t.Errorf("none output %q", out)
	}
}

// TestClientCommandsReachBerthFromTheEnvironment: every client command
// takes --server and --ca-file, defaulted from $BERTH_SERVER and
// $BERTH_CA_FILE, over the stored login's.
func TestClientCommandsReachBerthFromTheEnvironment(t *testing.T) {
	t.Setenv("BERTH_CONFIG_DIR", t.TempDir())
	if err := (&cli.Profile{Server: "https://stored.example"}).Save(); err != nil {
		t.Fatal(err)
	}
	table := []command{
		{summary: "The tool."},
		{words: "where", summary: "Where berth is.", uses: usesLogin, run: func(c *call) (any, error) { return c.p.Server, nil }},
	}
	for _, tc := range []struct {
		env, args []string
		want      string
	}{
		{nil, nil, "https://stored.example"},
		{[]string{"BERTH_SERVER", "https://env.example"}, nil, "https://env.example"},
		{[]string{"BERTH_SERVER", "https://env.example"}, []string{"--server", "https://flag.example"}, "https://flag.example"},
	} {
		t.Setenv("BERTH_SERVER", "")
		if tc.env != nil {
			t.Setenv(tc.env[0], tc.env[1])
		}
		code, out, errOut := testRun(table, append([]string{"where", "-o", "tsv"}, tc.args...)...)
		if code != 0 || out != tc.want+"\n" {
			t.Errorf("env %q args %q: exit %d %q %s, want %s", tc.env, tc.args, code, out, errOut, tc.want)
		}
	}
	t.Setenv("BERTH_CA_FILE", filepath.Join(t.TempDir(), "missing.crt"))
	if code, _, errOut := testRun(table, "where"); code != 1 || !strings.Contains(errOut, "missing.crt") {
		t.Errorf("a CA file that is not there: exit %d %s", code, errOut)
	}
}

// TestTable checks berth's own table: every entry placed under a group
// that has a summary, every flag described, no name declared twice, a
// help page for each that lists exactly the flags declared, and examples
// that are command lines the command accepts.
func TestTable(t *testing.T) {
	root := tree(commands())
	var walk func(n *node)
	flagName := regexp.MustCompile(`^    (--?[a-z][a-z0-9-]*(?: --?[a-z][a-z0-9-]*)*)(?: \[Required\])? *: `)
	walk = func(n *node) {
		if n.cmd.summary == "" || !strings.HasSuffix(n.cmd.summary, ".") {
			t.Errorf("%s: summary %q is not a sentence", n.path, n.cmd.summary)
		}
		var out bytes.Buffer
		if n.isGroup() {
			if len(n.children) == 0 {
				t.Errorf("%s: a group with no commands", n.path)
			}
			writeGroupHelp(&out, n)
			for _, c := range n.children {
				if !strings.Contains(out.String(), "    "+c.name+" ") {
					t.Errorf("%s help does not list %s", n.path, c.name)
				}
				walk(c)
			}
			return
		}
		writeCommandHelp(&out, n)
		f, _ := n.flagSet(&globals{})
		var listed []string
		for _, line := range strings.Split(out.String(), "\n") {
			if m := flagName.FindStringSubmatch(line); m != nil {
				listed = append(listed, strings.Fields(m[1])...)
			}
		}
		var declared []string
		for _, s := range f.specs {
			if s.help == "" {
				t.Errorf("%s --%s has no help", n.path, s.names[0])
			}
			for _, name := range s.names {
				declared = append(declared, dashes(name)+name)
			}
		}
		declared = append(declared, "--help", "-h")
		slices.Sort(listed)
		slices.Sort(declared)
		if !slices.Equal(listed, declared) {
			t.Errorf("%s: help lists %q, the table declares %q", n.path, listed, declared)
		}
		if !n.cmd.local && (f.byName["server"] == nil || f.byName["ca-file"] == nil) {
			t.Errorf("%s: a client command without --server and --ca-file", n.path)
		}
		if !n.cmd.local && !n.cmd.ownOutput && (f.byName["output"] == nil || f.byName["query"] == nil) {
			t.Errorf("%s: a client command without --output and --query", n.path)
		}
		if len(n.cmd.examples) == 0 {
			t.Errorf("%s: no example; its help should show one", n.path)
		}
		for _, e := range n.cmd.examples {
			if err := checkExample(root, n, e.line); err != nil {
				t.Errorf("%s: example %q: %v", n.path, e.line, err)
			}
		}
	}
	walk(root)
}

func TestRunVersionAndHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	bi, _ := debug.ReadBuildInfo()
	if code := run([]string{"--version"}, strings.NewReader(""), &out, &errOut); code != 0 || out.String() != versionText(bi) {
		t.Errorf("--version: exit %d %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"help", "acr"}, strings.NewReader(""), &out, &errOut); code != 0 || !strings.Contains(out.String(), "berth acr : ") {
		t.Errorf("help acr: exit %d:\n%s", code, out.String())
	}
}
