package main

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// binaries builds tcp-advisor and tcpload once per test run and returns their
// paths.
func binaries(t *testing.T) (advisorBin, loadBin string) {
	t.Helper()
	return testbin.Build(t, "cmd/tcp-advisor"), testbin.Build(t, "internal/cmd/tcpload")
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// nobodyBinary copies bin into a directory of its own that every user,
// nobody (uid 65534) included, can reach and returns the copy's path: the
// test binaries' directory is root's alone. The directory goes when the
// test ends.
func nobodyBinary(t *testing.T, bin string) string {
	t.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(nobodyDir(t), filepath.Base(bin))
	if err := os.WriteFile(copied, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return copied
}

// stop signals the agent and waits for it to exit.
func (p *agentProc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err := p.cmd.Wait()
	if sig == syscall.SIGTERM && err != nil {
		t.Errorf("agent exit after SIGTERM: %v\n%s", err, p.log.String())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
