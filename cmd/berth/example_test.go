package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// checkExample reads an example's command line as the shell would split
// it, and parses and checks it as the runner would, without running it:
// an example that names a flag the command lacks, or leaves out a
// required one, fails. Environment assignments before berth, and what
// follows a pipe or a redirection, are the shell's.
func checkExample(root *node, want *node, line string) error {
	words, err := shellWords(line)
	if err != nil {
		return err
	}
	for len(words) > 0 && words[0] != "berth" && strings.Contains(words[0], "=") {
		words = words[1:]
	}
	if len(words) == 0 || words[0] != "berth" {
		return errors.New("does not start with berth")
	}
	if i := slices.IndexFunc(words, func(w string) bool { return w == "|" || w == "<" || w == ">" }); i >= 0 {
		words = words[:i]
	}
	n, args := root, words[1:]
	for n.isGroup() && len(args) > 0 && n.child(args[0]) != nil {
		n, args = n.child(args[0]), args[1:]
	}
	if n != want {
		return fmt.Errorf("runs %s", n.path)
	}
	f, _ := n.flagSet(&globals{})
	rest, err := f.parse(args)
	if err == nil {
		err = n.positional(rest)
	}
	if err == nil {
		err = f.validate()
	}
	return err
}

// shellWords splits a command line at spaces outside quotes and $(...).
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, depth := false, 0
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
			continue
		case depth > 0:
			cur.WriteRune(r)
			if r == '(' {
				depth++
			} else if r == ')' {
				depth--
			}
			continue
		}
		switch r {
		case ' ':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
			continue
		case '\'', '"':
			quote = r
		case '(':
			depth = 1
			cur.WriteRune(r)
		default:
			cur.WriteRune(r)
		}
		inWord = true
	}
	if quote != 0 || depth != 0 {
		return nil, errors.New("unbalanced quotes or parentheses")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func TestCheckExampleRefusesWhatTheCommandRefuses(t *testing.T) {
	root := tree(sample(new(map[string]any)))
	create := root.child("box").child("create")
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{`berth box create --name b --color "deep blue"`, true},
		{`X=1 berth box create --name "$(echo b)" --color red | cat`, true},
		{`berth box create --name b`, false},
		{`berth box create --name b --color red --colour red`, false},
		{`berth box list`, false},
		{`berth box create --name 'b --color red`, false},
	} {
		if err := checkExample(root, create, tc.line); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.line, err)
		}
	}
}
