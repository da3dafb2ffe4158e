package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// versionText is what berth version prints: the module version (a tag or
// pseudo-version in a git checkout, "(devel)" without VCS stamping) and
// the revision the build information records, which is absent when the
// binary was built without VCS stamping (go run, -buildvcs=false, a
// source tree outside git).
func versionText(bi *debug.BuildInfo) string {
	if bi == nil {
		return "berth (unknown version: the binary carries no build information)\n"
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	var b strings.Builder
	fmt.Fprintf(&b, "berth %s\n", bi.Main.Version)
	switch rev := settings["vcs.revision"]; {
	case rev == "":
		b.WriteString("revision: unknown (built without VCS information: go run, or -buildvcs=false)\n")
	case settings["vcs.modified"] == "true":
		fmt.Fprintf(&b, "revision: %s, with uncommitted changes (dirty)\n", rev)
	default:
		fmt.Fprintf(&b, "revision: %s\n", rev)
	}
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(&b, "committed: %s\n", t)
	}
	fmt.Fprintf(&b, "go: %s\n", bi.GoVersion)
	return b.String()
}

// moduleVersion is berth's module version alone, for the credential
// helper's version action.
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return "(unknown)"
}
