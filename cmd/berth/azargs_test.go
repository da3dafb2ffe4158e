package main

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestAzArgs(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var scopes listFlag
	var role string
	var admin bool
	fs.Var(&scopes, "scopes", "")
	fs.StringVar(&role, "role", "", "")
	fs.BoolVar(&admin, "admin-enabled", false, "")
	args := []string{"--role", "acrpull", "--scopes", "/a", "/b", "--admin-enabled", "true"}
	if err := parseAz(fs, args, "scopes"); err != nil {
		t.Fatal(err)
	}
	if role != "acrpull" || !slices.Equal(scopes, listFlag{"/a", "/b"}) || !admin {
		t.Errorf("role %q scopes %q admin %v", role, scopes, admin)
	}
	if err := parseAz(fs, []string{"--role", "x", "stray"}); err == nil {
		t.Error("a stray argument after a single-valued flag was accepted")
	}
}
