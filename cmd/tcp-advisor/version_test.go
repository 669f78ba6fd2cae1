package main

import (
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

var versionRE = regexp.MustCompile(`^tcp-advisor (\S+) \(commit (\S+), (go\S+) (\w+/\w+)\)\n$`)

func TestVersionFlagAndCommand(t *testing.T) {
	a, _, code1 := run("--version")
	b, _, code2 := run("version")
	if code1 != 0 || code2 != 0 || a != b {
		t.Fatalf("--version (exit %d) %q and version (exit %d) %q differ", code1, a, code2, b)
	}
	m := versionRE.FindStringSubmatch(a)
	if m == nil {
		t.Fatalf("--version = %q, want tcp-advisor VERSION (commit COMMIT, GO OS/ARCH)", a)
	}
	if m[3] != runtime.Version() || m[4] != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("--version = %q: Go %s %s/%s", a, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
}

func TestVCSRevision(t *testing.T) {
	rev := "0c5eaf672ae3799eeec44860da9166c1463cf497"
	for _, tt := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{nil, ""},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}, "0c5eaf672ae3"},
		{[]debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: rev}}, "0c5eaf672ae3-dirty"},
		{[]debug.BuildSetting{{Key: "vcs.modified", Value: "true"}}, ""},
	} {
		if got := vcsRevision(tt.settings); got != tt.want {
			t.Errorf("vcsRevision(%v) = %q, want %q", tt.settings, got, tt.want)
		}
	}
}

func output(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, msg)
	}
	return strings.TrimSpace(string(out))
}

// TestMakeStampsVersion: `make build` stamps `git describe` and the short
// commit (VERSION=... overrides the version, as `make package` does with
// the package's) and writes the man page and completions next to the
// binary.
func TestMakeStampsVersion(t *testing.T) {
	testbin.Tool(t, "make", "make")
	testbin.Tool(t, "git", "git")
	root := testbin.RepoRoot(t)
	if _, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output(); err != nil {
		testbin.Missing(t, "not a git checkout")
	}
	describe := output(t, root, nil, filepath.Join(root, "packaging", "version.sh"), root)
	short := output(t, root, nil, "git", "rev-parse", "--short", "HEAD")
	dir := t.TempDir()
	bin := filepath.Join(dir, "tcp-advisor")
	for _, tt := range []struct {
		vars        []string
		wantVersion string
	}{
		{nil, describe},
		{[]string{"VERSION=9.8.7"}, "9.8.7"},
	} {
		output(t, root, nil, "make", append([]string{"-s", "build", "BIN=" + bin}, tt.vars...)...)
		m := versionRE.FindStringSubmatch(output(t, dir, nil, bin, "--version") + "\n")
		if m == nil || m[1] != tt.wantVersion || m[2] != short {
			t.Errorf("make build %v: --version %q, want version %s and commit %s", tt.vars, m, tt.wantVersion, short)
		}
	}
	for _, f := range []string{"tcp-advisor.8.gz", "tcp-advisor.bash", "_tcp-advisor"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("make build did not write %s next to the binary: %v", f, err)
		}
	}
	// The man page is dated with the commit and names the version.
	f, err := os.Open(filepath.Join(dir, "tcp-advisor.8.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	day := output(t, root, nil, "git", "log", "-1", "--format=%cs")
	if want := `.TH "TCP-ADVISOR" 8 "` + day + `" "tcp-advisor 9.8.7" "System Administration"`; !strings.Contains(string(page), want+"\n") {
		t.Errorf("man page lacks %q:\n%.300s", want, page)
	}
}

// TestVersionFromBuildInfo: a binary built without -ldflags -X names the
// version and commit the Go toolchain recorded in it (go version -m), or
// says it does not know.
func TestVersionFromBuildInfo(t *testing.T) {
	root := testbin.RepoRoot(t)
	bin := filepath.Join(t.TempDir(), "tcp-advisor")
	output(t, root, []string{"GOFLAGS=-buildvcs=auto", "CGO_ENABLED=0"}, "go", "build", "-o", bin, "./cmd/tcp-advisor")
	info := output(t, root, nil, "go", "version", "-m", bin)
	wantVersion, wantCommit := "devel", "unknown"
	rev, dirty := "", false
	for _, line := range strings.Split(info, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "mod" && f[2] != "(devel)":
			wantVersion = f[2]
		case len(f) == 2 && strings.HasPrefix(f[1], "vcs.revision="):
			rev = strings.TrimPrefix(f[1], "vcs.revision=")
		case len(f) == 2 && f[1] == "vcs.modified=true":
			dirty = true
		}
	}
	if rev != "" {
		wantCommit = rev[:12]
		if dirty {
			wantCommit += "-dirty"
		}
	}
	got := output(t, root, nil, bin, "--version") + "\n"
	m := versionRE.FindStringSubmatch(got)
	if m == nil || m[1] != wantVersion || m[2] != wantCommit {
		t.Errorf("--version = %q, want version %s and commit %s from:\n%s", got, wantVersion, wantCommit, info)
	}
}
