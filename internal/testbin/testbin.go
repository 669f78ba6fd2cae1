// Package testbin builds the repository's commands once per test process, so
// end-to-end tests run the real binaries.
package testbin

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
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
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
	built[pkg] = out
	return out
}

// Cleanup removes the binaries; call it from TestMain after m.Run.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir, built = "", map[string]string{}
	}
}
