package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
)

// Set at build time: -ldflags "-X main.version=v1.2.3 -X main.commit=abc".
// Without them, copyguard version reads what the Go toolchain recorded.
var (
	version = "dev"
	commit  = ""
)

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintln(stdout, versionLine(version, commit, bi, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH))
	return nil
}

// pseudoRev is the commit at the end of a pseudo-version
// (v0.0.0-20260101120000-abcdef123456), as go install ...@commit records it.
var pseudoRev = regexp.MustCompile(`^v\d+\.\d+\.\d+-(?:.*\.)?\d{14}-([0-9a-f]{12})(?:\+incompatible)?$`)

// versionLine says which copyguard this is: the -ldflags version and
// commit when given (release builds, the Dockerfile); otherwise the module
// version (go install ...@v1.2.3) and the VCS stamp of a build in a git
// checkout (commit, "-dirty" for uncommitted changes, commit time). A
// build from source with -buildvcs=false has neither, and says so instead
// of passing "dev" off as a version.
func versionLine(version, commit string, bi *debug.BuildInfo, goVersion, platform string) string {
	var rev, at string
	modified := false
	if bi != nil {
		if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev == "" {
			if m := pseudoRev.FindStringSubmatch(bi.Main.Version); m != nil {
				rev = m[1]
			}
		}
	}
	note := ""
	switch {
	case commit != "":
	case rev != "":
		commit = rev
		if modified {
			commit += "-dirty"
		}
		if at != "" {
			note = " (committed " + at + ")"
		}
	default:
		commit = "unknown"
		if version == "dev" {
			note = " (built from source without a version: no -ldflags -X main.version, no VCS stamp, as with -buildvcs=false)"
		}
	}
	return fmt.Sprintf("copyguard %s commit %s %s %s%s", version, commit, goVersion, platform, note)
}
