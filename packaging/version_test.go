package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// TestVersionScript: version.sh turns the release tags of a checkout into
// the version the binary and packages carry, in a scratch repository.
func TestVersionScript(t *testing.T) {
	testbin.Tool(t, "git", "git")
	script, err := filepath.Abs("version.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.email=t@example.invalid", "-c", "user.name=t"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	version := func() string {
		t.Helper()
		out, err := exec.Command(script, dir).CombinedOutput()
		if err != nil {
			t.Fatalf("version.sh: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("commit", "-q", "--allow-empty", "-m", "first")
	short := func() string { return git("rev-parse", "--short", "HEAD") }
	steps := []struct {
		name string
		do   func()
		want func() string
	}{
		{"no tag", func() {}, func() string { return "0.0.0+g" + short() }},
		{"a tag that is no release", func() { git("tag", "nightly") }, func() string { return "0.0.0+g" + short() }},
		{"on v0.2.0", func() { git("tag", "v0.2.0") }, func() string { return "0.2.0" }},
		{"two commits after", func() {
			git("commit", "-q", "--allow-empty", "-m", "b")
			git("commit", "-q", "--allow-empty", "-m", "c")
		}, func() string { return "0.2.0+2.g" + short() }},
		{"uncommitted change", func() {
			if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			git("add", "f")
		}, func() string { return "0.2.0+2.g" + short() + ".dirty" }},
		{"release candidate", func() {
			git("commit", "-q", "-m", "d")
			git("tag", "v0.3.0-rc.1")
		}, func() string { return "0.3.0-rc.1" }},
	}
	semver := regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?(\+[0-9A-Za-z.]+)?$`)
	for _, st := range steps {
		st.do()
		got, want := version(), st.want()
		if got != want || !semver.MatchString(got) {
			t.Errorf("%s: version.sh = %q, want %q (semver)", st.name, got, want)
		}
	}
}
