package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// completionScript writes berth completion SHELL's output to a file.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run([]string{"completion", shell}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("completion %s: exit %d: %s", shell, code, errOut.String())
	}
	path := filepath.Join(t.TempDir(), "berth."+shell)
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func needShell(t *testing.T, shell string) {
	t.Helper()
	if _, err := exec.LookPath(shell); err != nil {
		t.Skipf("%s is not installed (scripts/test.sh installs it)", shell)
	}
}

// runShell runs script in shell and returns its output: one line per
// case, "CASE\tcandidate candidate ...".
func runShell(t *testing.T, shell, script string) map[string][]string {
	t.Helper()
	out, err := exec.Command(shell, "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", shell, err, out)
	}
	got := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("%s printed %q", shell, line)
		}
		got[k] = strings.Fields(v)
	}
	return got
}

// completionCases are command lines up to the cursor (the last word is
// the one being completed) and the candidates a shell must offer, in
// order; nil means none, so that the shell completes file names.
var completionCases = []struct {
	line string
	want []string
}{
	{"berth a", []string{"account", "acr", "ad", "aks"}},
	{"berth ad sp c", []string{"create", "create-for-rbac"}},
	{"berth acr show --na", []string{"--name"}},
	{"berth acr show -g apps --re", []string{"--resource-group"}},
	{"berth acr show -g ", nil},
	{"berth ad sp create-for-rbac --role acrpull --scopes", []string{"--scopes"}},
	{"berth completion ", []string{"bash", "fish", "zsh"}},
	{"berth completion z", []string{"zsh"}},
	{"berth credential-provider ", nil},
	{"berth vm identity assign --identities ", nil},
	{"berth serve --data-dir /tmp --lis", []string{"--listen"}},
}

// TestBashCompletion sources the script in bash and calls its completion
// function as bash does, with COMP_WORDS and COMP_CWORD set: for the
// cases above, for every command under every group, and for every flag
// of every command.
func TestBashCompletion(t *testing.T) {
	needShell(t, "bash")
	script := completionScript(t, "bash")
	var b strings.Builder
	fmt.Fprintf(&b, "source %q\n", script)
	b.WriteString(`c() { local k=$1; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _berth; printf '%s\t%s\n' "$k" "${COMPREPLY[*]}"; }` + "\n")
	call := func(key, line string) {
		words := strings.Split(line, " ")
		fmt.Fprintf(&b, "c %q", key)
		for _, w := range words {
			fmt.Fprintf(&b, " %q", w)
		}
		b.WriteString("\n")
	}
	for i, tc := range completionCases {
		call(fmt.Sprint("case", i), tc.line)
	}
	table := completionTable(tree(commands()))
	for _, e := range table {
		if e.isGroup() {
			call(e.path, e.path+" ")
		} else {
			call(e.path, e.path+" -")
		}
	}
	got := runShell(t, "bash", b.String())
	for i, tc := range completionCases {
		if k := fmt.Sprint("case", i); !slices.Equal(got[k], tc.want) {
			t.Errorf("%q: bash offers %q, want %q", tc.line, got[k], tc.want)
		}
	}
	for _, e := range table {
		want := strings.Fields(words(e.flags))
		if e.isGroup() {
			want = append(strings.Fields(words(e.children)), "--help")
		}
		if !slices.Equal(got[e.path], want) {
			t.Errorf("%q: bash offers %q, want %q", e.path, got[e.path], want)
		}
	}
}

// TestZshCompletion runs the script's _berth in zsh. zsh's completion
// widgets need an interactive terminal, so _describe and _files are
// stand-ins here that print what they were given to offer; the script's
// own logic (following the words, choosing what to offer) is the real one.
func TestZshCompletion(t *testing.T) {
	needShell(t, "zsh")
	script := completionScript(t, "zsh")
	var b strings.Builder
	b.WriteString("compdef() { : }\n")
	fmt.Fprintf(&b, "source %q\n", script)
	b.WriteString(`_describe() { local a=${@[-1]}; print -rn -- "${(@j: :)${(@)${(@P)a}%%:*}}" }` + "\n")
	b.WriteString("_files() { : }\n")
	b.WriteString(`c() { local k=$1; shift; words=("$@"); CURRENT=${#words}; print -rn -- "$k"$'\t'; _berth; print }` + "\n")
	for i, tc := range completionCases {
		fmt.Fprintf(&b, "c case%d", i)
		for _, w := range strings.Split(tc.line, " ") {
			b.WriteString(" " + zshQuote(w))
		}
		b.WriteString("\n")
	}
	got := runShell(t, "zsh", b.String())
	for i, tc := range completionCases {
		// zsh filters candidates by the word being completed itself;
		// the script offers all of a group's or command's.
		var offered []string
		cur := tc.line[strings.LastIndex(tc.line, " ")+1:]
		for _, w := range got[fmt.Sprint("case", i)] {
			if strings.HasPrefix(w, cur) {
				offered = append(offered, w)
			}
		}
		if !slices.Equal(offered, tc.want) {
			t.Errorf("%q: zsh offers %q, want %q", tc.line, offered, tc.want)
		}
	}
	// The descriptions are the table's summaries.
	out, err := exec.Command("zsh", "-c", "compdef() { : }; source "+zshQuote(script)+"; print -r -- ${_berth_children[berth acr]}").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "login:Log in to a registry: write a registry token to the docker configuration.\n") {
		t.Errorf("zsh descriptions: %v\n%s", err, out)
	}
}

// TestFishCompletion asks fish itself what it completes (complete -C).
func TestFishCompletion(t *testing.T) {
	needShell(t, "fish")
	script := completionScript(t, "fish")
	var b strings.Builder
	fmt.Fprintf(&b, "source %s\n", fishQuote(script))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "afile"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "cd %s\n", fishQuote(dir))
	for i, tc := range completionCases {
		fmt.Fprintf(&b, "printf '%%s\\t%%s\\n' case%d (string join -- ' ' (complete -C %s | string replace -r '\\t.*' ''))\n", i, fishQuote(tc.line))
	}
	got := runShell(t, "fish", b.String())
	for i, tc := range completionCases {
		want := tc.want
		if want == nil {
			// Where a file name may go, fish offers the directory's.
			want = []string{"afile"}
		}
		if got := got[fmt.Sprint("case", i)]; !slices.Equal(got, want) {
			t.Errorf("%q: fish offers %q, want %q", tc.line, got, want)
		}
	}
	out, err := exec.Command("fish", "-c", "source "+fishQuote(script)+"; complete -C 'berth acr l'").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "list\tList the container registries") {
		t.Errorf("fish descriptions: %v\n%s", err, out)
	}
}

func TestCompletionRefusesOtherShells(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"completion", "powershell"}, strings.NewReader(""), &out, &errOut); code != exitUsage || out.Len() != 0 ||
		!strings.Contains(errOut.String(), "SHELL must be one of bash, fish, zsh") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}
