// Package doctable keeps a table that code generates inside a Markdown file,
// between the lines <!-- NAME --> and <!-- /NAME -->: a test compares the
// file with the generated text and fails when they differ; run with
// TCP_ADVISOR_UPDATE_DOCS=1 (make docs), it rewrites the file instead.
package doctable

import (
	"os"
	"strings"
	"testing"
)

// UpdateEnv is the environment variable that makes Check rewrite the file.
const UpdateEnv = "TCP_ADVISOR_UPDATE_DOCS"

// Check fails t when the text between path's NAME markers is not want, or
// rewrites it there when UpdateEnv is set.
func Check(t testing.TB, path, name, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	start, end := "<!-- "+name+" -->\n", "<!-- /"+name+" -->"
	before, rest, ok := strings.Cut(string(b), start)
	got, after, ok2 := strings.Cut(rest, end)
	if !ok || !ok2 {
		t.Fatalf("%s has no %q and %q lines around its %s table", path, strings.TrimSpace(start), end, name)
	}
	if got == want {
		return
	}
	if os.Getenv(UpdateEnv) == "" {
		t.Errorf("%s: the %s table is not what the code generates; run `make docs` to rewrite it. Want:\n%s", path, name, want)
		return
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(before+start+want+end+after), info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: rewrote the %s table", path, name)
}
