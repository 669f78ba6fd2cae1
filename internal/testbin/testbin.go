// Package testbin builds the repository's commands once per test process, so
// end-to-end tests run the real binaries, finds the repository's root, and
// stops tests whose tools or machine set-up are missing: they skip normally
// but fail under CI=true, where a skip would hide a machine that does not
// run every test.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Module is the import path prefix of this repository's packages.
const Module = "github.com/tcp-advisor/tcp-advisor"

var (
	mu    sync.Mutex
	dir   string
	built = map[string]string{}
)

// Build compiles the command at pkg (an import path below Module, such as
// "cmd/tcp-advisor") and returns the binary's path. Later calls for the same
// package return the same binary.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "tcp-advisor-testbin-")
		if err != nil {
			tb.Fatal(err)
		}
		dir = d
	}
	out := filepath.Join(dir, path.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, Module+"/"+pkg)
	cmd.Dir = RepoRoot(tb) // the versions the repository's go.mod selects
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
	built[pkg] = out
	return out
}

// RepoRoot returns the repository's root: the nearest directory at or
// above the test's working directory (its package's) whose go.mod is
// Module's. Modules nested inside (packaging's tests) are passed over.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modulePath(b) == Module {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod at or above the test's directory")
		}
		dir = parent
	}
}

// modulePath returns the path a go.mod's module directive declares.
func modulePath(gomod []byte) string {
	for line := range strings.Lines(string(gomod)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// Cleanup removes the binaries; call it from TestMain after m.Run.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir, built, wrappers = "", map[string]string{}, map[string]wrapper{}
	}
}

// Missing stops the test for a missing prerequisite that msg names: it skips
// normally and fails under CI=true.
func Missing(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg + " (CI=true: not skipping)")
	}
	tb.Skip(msg)
}

// Tool returns the path of the command name, or stops the test with Missing
// when it is not found; pkg is the Debian package that ships it.
func Tool(tb testing.TB, name, pkg string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, fmt.Sprintf("%s not found (apt-get install %s)", name, pkg))
	}
	return p
}
