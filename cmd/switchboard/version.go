package main

import (
	"runtime/debug"
	"strings"
)

// Stamped with -ldflags "-X main.buildVersion=… -X main.buildCommit=…
// -X main.buildDate=…" by the Dockerfile and the scripts
// (scripts/ldflags.sh), for binaries built without VCS information (a
// Docker context without .git, -buildvcs=false).
var buildVersion, buildCommit, buildDate string

// version is what -version prints: the module version, the commit and a
// date, each from the build information Go records when it has them, else
// from what the build stamped.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	return versionOf(bi, ok, buildVersion, buildCommit, buildDate)
}

func versionOf(bi *debug.BuildInfo, ok bool, stampedVersion, stampedCommit, stampedDate string) string {
	v, commit, date, dirty := "", "", "", false
	if ok {
		if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
			v = mv
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			case "vcs.time":
				date = "committed " + s.Value
			}
		}
	}
	if v == "" {
		v = stampedVersion
	}
	if v == "" {
		v = "devel"
	}
	if commit == "" {
		commit = stampedCommit
	}
	if stampedDate != "" {
		date = "built " + stampedDate
	}
	var parts []string
	if commit != "" {
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if dirty {
			commit += "-dirty"
		}
		parts = append(parts, "commit "+commit)
	}
	if date != "" {
		parts = append(parts, date)
	}
	if len(parts) == 0 {
		return "switchboard " + v
	}
	return "switchboard " + v + " (" + strings.Join(parts, ", ") + ")"
}
