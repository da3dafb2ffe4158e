package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// shells are the shells berth completion writes a script for.
var shells = []string{"bash", "fish", "zsh"}

// completionCommands is a function, not a table like the others, because
// the script is made from the whole table, this command's entry included.
func completionCommands() []command {
	return []command{{
		words:   "completion",
		summary: "Print the shell completion script for bash, zsh or fish.",
		more: "The script completes berth's groups, commands and each command's flags, from the same table the commands " +
			"run from; after a flag that takes a value it completes file names.",
		args:      []string{"SHELL"},
		argValues: shells,
		local:     true,
		examples: []example{
			{"Install it for bash (with the bash-completion package; or source it from ~/.bashrc).", "berth completion bash > ~/.local/share/bash-completion/completions/berth"},
			{"Install it for zsh (a directory on $fpath).", `berth completion zsh > "${fpath[1]}/_berth"`},
			{"Install it for fish.", "berth completion fish > ~/.config/fish/completions/berth.fish"},
		},
		run: func(c *call) (any, error) {
			t := completionTable(tree(commands()))
			switch c.args[0] {
			case "bash":
				writeBashCompletion(c.stdout, t)
			case "zsh":
				writeZshCompletion(c.stdout, t)
			case "fish":
				writeFishCompletion(c.stdout, t)
			default:
				return nil, fmt.Errorf("berth completion: no script for %q; the shells are %s", c.args[0], strings.Join(shells, ", "))
			}
			return nil, nil
		},
	}}
}

// compEntry is a group or command as a completion script needs it.
type compEntry struct {
	path string // "berth acr show"
	// children are a group's commands and subgroups.
	children []compWord
	// flags are a command's, each name apart ("--name", "-n").
	flags []compWord
	// valued are the names of the flags that take a value.
	valued []string
	// args are the values of the positional argument, if the command
	// names them; files else.
	args    []string
	hasArgs bool
}

type compWord struct{ word, help string }

func (e *compEntry) isGroup() bool { return e.children != nil }

// completionTable is the command tree, depth first, with each command's
// flags as its help lists them.
func completionTable(root *node) []compEntry {
	var out []compEntry
	var walk func(n *node)
	walk = func(n *node) {
		e := compEntry{path: n.path, args: n.cmd.argValues, hasArgs: len(n.cmd.args) > 0}
		if n.isGroup() {
			e.children = []compWord{}
			for _, c := range n.children {
				e.children = append(e.children, compWord{c.name, c.cmd.summary})
			}
			out = append(out, e)
			for _, c := range n.children {
				walk(c)
			}
			return
		}
		f, _ := n.flagSet(&globals{})
		for _, s := range sortedSpecs(f.specs) {
			for _, name := range s.names {
				e.flags = append(e.flags, compWord{dashes(name) + name, s.help})
				if s.kind != boolean {
					e.valued = append(e.valued, dashes(name)+name)
				}
			}
		}
		e.flags = append(e.flags, compWord{"--help", "Show the command's help."})
		out = append(out, e)
	}
	walk(root)
	return out
}

func words(ws []compWord) string {
	var names []string
	for _, w := range ws {
		names = append(names, w.word)
	}
	return strings.Join(names, " ")
}

// writeBashCompletion writes a script defining _berth, the completion
// function of berth: it follows the words before the cursor down the
// command tree, then offers the group's commands, the command's flags,
// or, after a flag that takes a value, nothing, so that bash completes
// file names (complete -o default).
func writeBashCompletion(w io.Writer, table []compEntry) {
	fmt.Fprint(w, "# bash completion for berth, written by 'berth completion bash' from its command table.\n\n")
	caseFunc := func(name, what string, value func(e compEntry) (string, bool)) {
		fmt.Fprintf(w, "# %s\n%s() {\n    case \"$1\" in\n", what, name)
		for _, e := range table {
			if v, ok := value(e); ok {
				fmt.Fprintf(w, "    %q) echo %q ;;\n", e.path, v)
			}
		}
		fmt.Fprint(w, "    *) return 1 ;;\n    esac\n}\n\n")
	}
	caseFunc("__berth_children", "The commands and subgroups of a group.", func(e compEntry) (string, bool) {
		return words(e.children), e.isGroup()
	})
	caseFunc("__berth_flags", "A command's flags.", func(e compEntry) (string, bool) {
		return words(e.flags), !e.isGroup()
	})
	caseFunc("__berth_valued", "A command's flags that take a value.", func(e compEntry) (string, bool) {
		return strings.Join(e.valued, " "), len(e.valued) > 0
	})
	caseFunc("__berth_args", "A command's positional argument: its values, or - for file names.", func(e compEntry) (string, bool) {
		if len(e.args) > 0 {
			return strings.Join(e.args, " "), true
		}
		return "-", e.hasArgs
	})
	fmt.Fprint(w, `_berth() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local path=berth i w kids args
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $w != -* ]] && kids=" $(__berth_children "$path") " && [[ $kids == *" $w "* ]]; then
            path="$path $w"
        fi
    done
    COMPREPLY=()
    if kids=$(__berth_children "$path"); then
        COMPREPLY=($(compgen -W "$kids --help" -- "$cur"))
    elif [[ $prev == -* && " $(__berth_valued "$path") " == *" $prev "* ]]; then
        return
    elif [[ $cur != -* ]] && args=$(__berth_args "$path"); then
        [[ $args == - ]] || COMPREPLY=($(compgen -W "$args" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$(__berth_flags "$path")" -- "$cur"))
    fi
}

complete -o default -F _berth berth
`)
}

// writeZshCompletion writes a script for zsh's completion system: the
// tree as associative arrays keyed by path, _berth_path to follow the
// words before the cursor, and _berth offering commands and flags with
// their help.
func writeZshCompletion(w io.Writer, table []compEntry) {
	fmt.Fprint(w, "#compdef berth\n# zsh completion for berth, written by 'berth completion zsh' from its command table.\n\n")
	assoc := func(name string, value func(e compEntry) (string, bool)) {
		fmt.Fprintf(w, "typeset -gA %s\n%s=(\n", name, name)
		for _, e := range table {
			if v, ok := value(e); ok {
				fmt.Fprintf(w, "  %s %s\n", zshQuote(e.path), zshQuote(v))
			}
		}
		fmt.Fprint(w, ")\n")
	}
	described := func(ws []compWord) string {
		var lines []string
		for _, x := range ws {
			lines = append(lines, x.word+":"+x.help)
		}
		return strings.Join(lines, "\n")
	}
	assoc("_berth_children", func(e compEntry) (string, bool) { return described(e.children), e.isGroup() })
	assoc("_berth_flags", func(e compEntry) (string, bool) { return described(e.flags), !e.isGroup() })
	assoc("_berth_valued", func(e compEntry) (string, bool) { return " " + strings.Join(e.valued, " ") + " ", len(e.valued) > 0 })
	assoc("_berth_args", func(e compEntry) (string, bool) {
		if len(e.args) > 0 {
			return strings.Join(e.args, " "), true
		}
		return "-", e.hasArgs
	})
	fmt.Fprint(w, `
# _berth_path prints the group or command the words name.
_berth_path() {
  local p=berth w
  for w in "$@"; do
    [[ $w == -* ]] && continue
    [[ $'\n'${_berth_children[$p]} == *$'\n'$w:* ]] && p="$p $w"
  done
  print -r -- $p
}

_berth() {
  local p=$(_berth_path "${(@)words[2,CURRENT-1]}") prev=${words[CURRENT-1]} cur=${words[CURRENT]}
  local -a c
  if (( ${+_berth_children[$p]} )); then
    c=("${(@f)_berth_children[$p]}")
    _describe -t commands 'berth command' c
  elif [[ $prev == -* && ${_berth_valued[$p]} == *" $prev "* ]]; then
    _files
  elif [[ $cur != -* && -n ${_berth_args[$p]} ]]; then
    if [[ ${_berth_args[$p]} == - ]]; then
      _files
    else
      c=(${=_berth_args[$p]})
      _describe -t values 'value' c
    fi
  else
    c=("${(@f)_berth_flags[$p]}")
    _describe -t options 'berth argument' c
  fi
}

if [[ $funcstack[1] == _berth ]]; then
  _berth "$@"
else
  compdef _berth berth
fi
`)
}

func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// writeFishCompletion writes one complete line per command and flag, each
// under the condition that the words before the cursor name its group or
// command.
func writeFishCompletion(w io.Writer, table []compEntry) {
	fmt.Fprint(w, "# fish completion for berth, written by 'berth completion fish' from its command table.\n\n")
	var paths []string
	for _, e := range table {
		if e.isGroup() {
			for _, c := range e.children {
				paths = append(paths, fishQuote(e.path+" "+c.word))
			}
		}
	}
	fmt.Fprintf(w, "set -g __berth_paths %s\n", strings.Join(paths, " "))
	fmt.Fprint(w, `
# __berth_at: do the words before the cursor name the group or command $argv[1]?
function __berth_at
    set -l p berth
    set -l words (commandline -opc)
    set -e words[1]
    for w in $words
        string match -q -- '-*' $w; and continue
        contains -- "$p $w" $__berth_paths; and set p "$p $w"
    end
    test "$p" = "$argv[1]"
end

complete -c berth -f
`)
	for _, e := range table {
		at := fishQuote("__berth_at " + fishQuote(e.path))
		for _, c := range e.children {
			fmt.Fprintf(w, "complete -c berth -n %s -a %s -d %s\n", at, fishQuote(c.word), fishQuote(c.help))
		}
		for _, fl := range e.flags {
			name := strings.TrimLeft(fl.word, "-")
			opt := "-l"
			if len(name) == 1 {
				opt = "-s"
			}
			value := ""
			if slices.Contains(e.valued, fl.word) {
				value = " -r -F"
			}
			fmt.Fprintf(w, "complete -c berth -n %s %s %s%s -d %s\n", at, opt, fishQuote(name), value, fishQuote(fl.help))
		}
		switch {
		case len(e.args) > 0:
			fmt.Fprintf(w, "complete -c berth -n %s -a %s\n", at, fishQuote(strings.Join(e.args, " ")))
		case e.hasArgs:
			fmt.Fprintf(w, "complete -c berth -n %s -F\n", at)
		}
	}
}

func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
