package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version, commit and date (the commit's day, YYYY-MM-DD, for the man
// page) are set at build time:
//
//	go build -ldflags "-X main.version=1.2.3 -X main.commit=abc1234 -X main.date=2025-01-31"
//
// as the Makefile does (git describe or the package's version, git
// rev-parse --short HEAD, the commit date). Left empty, they come from the
// build information the Go toolchain records: the module version and the
// VCS revision and time.
var (
	version string
	commit  string
	date    string
)

// versionInfo returns the version and the commit, "devel" and "unknown"
// when neither the linker nor the build information names them.
func versionInfo() (v, c string) {
	v, c = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		if c == "" {
			c = vcsRevision(bi.Settings)
		}
	}
	if v == "" {
		v = "devel"
	}
	if c == "" {
		c = "unknown"
	}
	return v, c
}

// vcsRevision is the short revision of the build settings, with "-dirty"
// when the tree had changes.
func vcsRevision(settings []debug.BuildSetting) string {
	var rev string
	dirty := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && dirty {
		rev += "-dirty"
	}
	return rev
}

// buildDate is the day of the commit the binary was built from (for the
// man page's footer), or "" when the build information does not say.
func buildDate() string {
	if date != "" {
		return date
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.time" {
			if d, _, ok := strings.Cut(s.Value, "T"); ok {
				return d
			}
		}
	}
	return ""
}

// versionLine is what --version prints.
func versionLine() string {
	v, c := versionInfo()
	return fmt.Sprintf("tcp-advisor %s (commit %s, %s %s/%s)", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, versionLine())
	return err
}
