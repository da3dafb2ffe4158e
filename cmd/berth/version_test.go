package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionText(t *testing.T) {
	info := func(version string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/berthhq/berth", Version: version}}
		for i := 0; i < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	const rev = "b92bfb98366e6597b3625550b3bef35af4d780f5"
	for _, tc := range []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{info("v1.2.0", "vcs", "git", "vcs.revision", rev, "vcs.time", "2026-12-07T10:00:00Z", "vcs.modified", "false"),
			"berth v1.2.0\nrevision: " + rev + "\ncommitted: 2026-12-07T10:00:00Z\ngo: go1.26.8\n"},
		{info("(devel)", "vcs.revision", rev, "vcs.time", "2026-12-07T10:00:00Z", "vcs.modified", "true"),
			"berth (devel)\nrevision: " + rev + ", with uncommitted changes (dirty)\ncommitted: 2026-12-07T10:00:00Z\ngo: go1.26.8\n"},
		{info("(devel)", "-buildvcs", "false"),
			"berth (devel)\nrevision: unknown (built without VCS information: go run, or -buildvcs=false)\ngo: go1.26.8\n"},
		{nil, "berth (unknown version: the binary carries no build information)\n"},
	} {
		if got := versionText(tc.bi); got != tc.want {
			t.Errorf("got\n%s\nwant\n%s", got, tc.want)
		}
	}
}
