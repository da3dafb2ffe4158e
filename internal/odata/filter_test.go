package odata

import (
	"errors"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Term
	}{
		{"", nil},
		{"   ", nil},
		{"displayName eq 'web'", []Term{{Func: "eq", Prop: "displayName", Value: "web", HasValue: true}}},
		{"name eq 'O''Brien'", []Term{{Func: "eq", Prop: "name", Value: "O'Brien", HasValue: true}}},
		{"roleName EQ ''", []Term{{Func: "eq", Prop: "roleName", HasValue: true}}},
		{"startswith(displayName,'we')", []Term{{Func: "startswith", Prop: "displayName", Value: "we", HasValue: true}}},
		{" startswith( displayName , 'a b' ) ", []Term{{Func: "startswith", Prop: "displayName", Value: "a b", HasValue: true}}},
		{"servicePrincipalNames/any(c:c eq 'api://x')", []Term{{Func: "any", Prop: "servicePrincipalNames", Value: "api://x", HasValue: true}}},
		{"substringof('eg', name)", []Term{{Func: "substringof", Prop: "name", Value: "eg", HasValue: true}}},
		{"atScope()", []Term{{Func: "atScope"}}},
		{"atScope() and assignedTo('1')", []Term{{Func: "atScope"}, {Func: "assignedTo", Value: "1", HasValue: true}}},
		{"resourceType eq 'Microsoft.ContainerRegistry/registries' AND name eq 'a and b'", []Term{
			{Func: "eq", Prop: "resourceType", Value: "Microsoft.ContainerRegistry/registries", HasValue: true},
			{Func: "eq", Prop: "name", Value: "a and b", HasValue: true},
		}},
		{"eventTimestamp ge '2015-01-21T20:00:00Z' and eventTimestamp LE 2015-01-23T20:00:00.5+01:00", []Term{
			{Func: "ge", Prop: "eventTimestamp", Value: "2015-01-21T20:00:00Z", HasValue: true},
			{Func: "le", Prop: "eventTimestamp", Value: "2015-01-23T20:00:00.5+01:00", HasValue: true, Bare: true},
		}},
		{"t gt 2016-11-17 and t lt 7", []Term{
			{Func: "gt", Prop: "t", Value: "2016-11-17", HasValue: true, Bare: true},
			{Func: "lt", Prop: "t", Value: "7", HasValue: true, Bare: true},
		}},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{
		"displayName", "displayName eq", "displayName eq web", "displayName eq 'web", "displayName ne 'web'",
		"a eq 'b' or c eq 'd'", "a eq 'b' and", "and a eq 'b'", "atScope(", "assignedTo('1'", "startswith(displayName 'a')",
		"names/any(c:d eq 'x')", "t ge", "t ge -1", "t le 2015-01-01 00:00", "t ne 1", "t eq 1x", "names/all(c:c eq 'x')", "names/any(c:c eq 'x'", "'x' eq name", "a eq 'b' 'c'",
		"substringof('a',)", "substringof('a' name)", "substringof('a', name",
		string(make([]byte, maxLength+1)),
	} {
		if got, err := Parse(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrSyntax", in, got, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"displayName eq 'web'", "startswith(displayName,'we')", "names/any(c:c eq 'x')", "atScope() and assignedTo('1')", "a eq 'b''c'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		terms, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q): error %v is not ErrSyntax", s, err)
			}
			return
		}
		for _, term := range terms {
			if term.Func == "" {
				t.Fatalf("Parse(%q): a term without a function: %+v", s, terms)
			}
		}
	})
}
