package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// flagKind is how a flag takes its values on the command line.
type flagKind int

const (
	// single takes one value: --name NAME or --name=NAME.
	single flagKind = iota
	// boolean takes none, or a following true or false, as the cloud
	// CLI's do: --yes, --admin-enabled true, --admin-enabled=false.
	boolean
	// multi takes every bare word after it and may be repeated:
	// --scopes A B is --scopes A --scopes B.
	multi
	// optionalMulti means something alone and takes values too:
	// --assign-identity, or --assign-identity ID...
	optionalMulti
)

// flagSpec is one flag as a command declares it.
type flagSpec struct {
	// names are the long names first, then the one-letter ones, without
	// dashes; the first is the flag's own.
	names    []string
	help     string
	kind     flagKind
	required bool
	// env names the environment variable a flag not given defaults to.
	// It is read after parsing, never as the flag's default, so that help
	// never prints its value.
	env string
	// global marks the arguments every client command takes, which help
	// lists apart.
	global bool
	empty  func() bool
	given  bool
}

// flagOpt qualifies a flag's declaration.
type flagOpt func(*flagSpec)

// required marks a flag the command cannot run without.
func required(s *flagSpec) { s.required = true }

// fromEnv makes the environment variable name a flag's default.
func fromEnv(name string) flagOpt { return func(s *flagSpec) { s.env = name } }

// flagSet is one command's flags: the table's declarations, their values
// (held and converted by the standard library's flag.FlagSet), and the
// checks that run after parsing, in the order they were declared.
type flagSet struct {
	cmd    string // "berth group create", for messages
	fs     *flag.FlagSet
	specs  []*flagSpec
	byName map[string]*flagSpec
	checks []func() error
}

func newFlagSet(cmd string) *flagSet {
	return &flagSet{cmd: cmd, fs: flag.NewFlagSet(cmd, flag.ContinueOnError), byName: map[string]*flagSpec{}}
}

// add registers a flag under the space-separated names; the value is
// already in f.fs under the first name.
func (f *flagSet) add(names, help string, kind flagKind, empty func() bool, opts []flagOpt) *flagSpec {
	var long, short []string
	for _, n := range strings.Fields(names) {
		if len(n) == 1 {
			short = append(short, n)
		} else {
			long = append(long, n)
		}
	}
	s := &flagSpec{names: append(long, short...), help: help, kind: kind, empty: empty}
	for _, o := range opts {
		o(s)
	}
	for _, n := range s.names {
		if f.byName[n] != nil {
			panic(fmt.Sprintf("%s: flag --%s declared twice", f.cmd, n))
		}
		f.byName[n] = s
	}
	f.specs = append(f.specs, s)
	if s.required {
		f.check(func() error {
			if s.empty() {
				return fmt.Errorf("%s: --%s is required", f.cmd, s.names[0])
			}
			return nil
		})
	}
	return s
}

// never is empty: flags whose every value is one.
func never() bool { return false }

// first is the name a flag's value is kept under in f.fs.
func first(names string) string { return strings.Fields(names)[0] }

// check adds a rule over several flags, run after parsing in declaration
// order with the required flags' checks.
func (f *flagSet) check(fn func() error) { f.checks = append(f.checks, fn) }

// given reports whether the flag named was on the command line.
func (f *flagSet) given(name string) bool {
	s := f.byName[name]
	return s != nil && s.given
}

// StringVar declares a string flag whose default is *p.
func (f *flagSet) StringVar(p *string, names, help string, opts ...flagOpt) {
	f.fs.StringVar(p, first(names), *p, help)
	f.add(names, help, single, func() bool { return *p == "" }, opts)
}

// String declares a string flag with no default.
func (f *flagSet) String(names, help string, opts ...flagOpt) *string {
	p := new(string)
	f.StringVar(p, names, help, opts...)
	return p
}

// Int declares an integer flag.
func (f *flagSet) Int(names, help string, def int, opts ...flagOpt) *int {
	f.IntVar(&def, names, help, opts...)
	return &def
}

// BoolVar declares a boolean flag whose default is *p.
func (f *flagSet) BoolVar(p *bool, names, help string, opts ...flagOpt) {
	f.fs.BoolVar(p, first(names), *p, help)
	f.add(names, help, boolean, never, opts)
}

// Bool declares a boolean flag, false unless given.
func (f *flagSet) Bool(names, help string, opts ...flagOpt) *bool {
	p := new(bool)
	f.BoolVar(p, names, help, opts...)
	return p
}

// OptionalBool declares a flag taking true or false whose value stays nil
// unless given, for updates that change only what is named.
func (f *flagSet) OptionalBool(names, help string, opts ...flagOpt) **bool {
	v := &optionalBool{}
	f.fs.Var(v, first(names), help)
	f.add(names, help, single, func() bool { return v.v == nil }, opts)
	return &v.v
}

// DurationVar declares a duration flag whose default is *p.
func (f *flagSet) DurationVar(p *time.Duration, names, help string, opts ...flagOpt) {
	f.fs.DurationVar(p, first(names), *p, help)
	f.add(names, help, single, never, opts)
}

// Float64Var declares a number flag whose default is *p.
func (f *flagSet) Float64Var(p *float64, names, help string, opts ...flagOpt) {
	f.fs.Float64Var(p, first(names), *p, help)
	f.add(names, help, single, never, opts)
}

// IntVar declares an integer flag whose default is *p.
func (f *flagSet) IntVar(p *int, names, help string, opts ...flagOpt) {
	f.fs.IntVar(p, first(names), *p, help)
	f.add(names, help, single, never, opts)
}

// Int64Var declares a 64-bit integer flag whose default is *p.
func (f *flagSet) Int64Var(p *int64, names, help string, opts ...flagOpt) {
	f.fs.Int64Var(p, first(names), *p, help)
	f.add(names, help, single, never, opts)
}

// ListVar declares a multi-valued flag appending to *p.
func (f *flagSet) ListVar(p *[]string, names, help string, opts ...flagOpt) {
	f.fs.Var((*listValue)(p), first(names), help)
	f.add(names, help, multi, func() bool { return len(*p) == 0 }, opts)
}

// List declares a multi-valued flag.
func (f *flagSet) List(names, help string, opts ...flagOpt) *[]string {
	p := new([]string)
	f.ListVar(p, names, help, opts...)
	return p
}

// OptionalList declares a flag that means something alone and takes
// values too; given reports whether it was on the command line.
func (f *flagSet) OptionalList(names, help string, opts ...flagOpt) (given func() bool, values *[]string) {
	p := new([]string)
	f.fs.Var((*listValue)(p), first(names), help)
	s := f.add(names, help, optionalMulti, never, opts)
	return func() bool { return s.given }, p
}

type listValue []string

func (l *listValue) String() string     { return strings.Join(*l, " ") }
func (l *listValue) Set(v string) error { *l = append(*l, v); return nil }

// optionalBool is a flag that remembers whether it was given.
type optionalBool struct{ v *bool }

func (o *optionalBool) String() string {
	if o.v == nil {
		return ""
	}
	return strconv.FormatBool(*o.v)
}

func (o *optionalBool) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	o.v = &b
	return nil
}

// errHelp is -h or --help on the command line.
var errHelp = errors.New("help requested")

// usageError is a command line that does not fit the command: the runner
// prints it with a pointer to the command's help and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// parse reads args as the cloud CLI's grammar has them, --name and -name
// alike, and returns the words that are not flags. Flags not given then
// take their environment defaults.
func (f *flagSet) parse(args []string) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		took, err := f.flag(a, args[i+1:])
		if err != nil {
			return nil, err
		}
		i += took
	}
	for _, s := range f.specs {
		if v := os.Getenv(s.env); s.env != "" && !s.given && v != "" {
			if err := f.set(s, s.names[0], v); err != nil {
				return nil, fmt.Errorf("$%s: %v", s.env, err)
			}
		}
	}
	return rest, nil
}

// flag reads the flag a with the values it takes from the arguments after
// it, and returns how many of those it took.
func (f *flagSet) flag(a string, after []string) (int, error) {
	name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
	s := f.byName[name]
	if s == nil {
		if name == "h" || name == "help" {
			return 0, errHelp
		}
		return 0, f.unknown(a, name)
	}
	s.given = true
	values, took, ok := s.take(value, hasValue, after)
	if !ok {
		return 0, usagef("%s: %s%s needs a value", f.cmd, dashes(name), name)
	}
	for _, v := range values {
		if err := f.set(s, name, v); err != nil {
			return 0, err
		}
	}
	return took, nil
}

// take is the values a flag takes: the one after its "=", else those its
// kind takes from the arguments after it, of which took is how many; ok is
// false for a flag that needs a value and has none.
func (s *flagSpec) take(value string, hasValue bool, after []string) (values []string, took int, ok bool) {
	if hasValue {
		values = []string{value}
	}
	switch {
	case s.kind == boolean && !hasValue:
		values = []string{"true"}
		if len(after) > 0 && (strings.EqualFold(after[0], "true") || strings.EqualFold(after[0], "false")) {
			values, took = []string{strings.ToLower(after[0])}, 1
		}
	case (s.kind == single || s.kind == multi) && !hasValue:
		if len(after) == 0 {
			return nil, 0, false
		}
		values, took = []string{after[0]}, 1
	}
	for (s.kind == multi || s.kind == optionalMulti) && took < len(after) && !strings.HasPrefix(after[took], "-") {
		values, took = append(values, after[took]), took+1
	}
	return values, took, true
}

func (f *flagSet) set(s *flagSpec, name, value string) error {
	if err := f.fs.Set(s.names[0], value); err != nil {
		return usagef("%s: %s%s: %q is not valid: %v", f.cmd, dashes(name), name, value, err)
	}
	return nil
}

// validate runs the checks: required flags and the command's own rules.
func (f *flagSet) validate() error {
	for _, c := range f.checks {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

// unknown is the error for a flag the command does not have, naming the
// nearest one it has.
func (f *flagSet) unknown(arg, name string) error {
	var names []string
	for _, s := range f.specs {
		names = append(names, s.names...)
	}
	msg := fmt.Sprintf("%s: unknown flag %s", f.cmd, arg)
	if near := nearest(name, names); near != "" {
		msg += fmt.Sprintf("; did you mean %s%s?", dashes(near), near)
	}
	return &usageError{msg}
}

// dashes is how help writes a flag: --name, -n.
func dashes(name string) string {
	if len(name) == 1 {
		return "-"
	}
	return "--"
}
