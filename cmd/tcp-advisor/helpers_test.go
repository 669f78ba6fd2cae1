package main

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// binaries builds tcp-advisor and tcpload once per test run and returns the
// paths the tests start them by: under TCP_ADVISOR_TEST_KERNEL_EVENTS=refused
// tcp-advisor's is a script that runs it with the connection-events program
// refused (testbin.Advisor).
func binaries(t *testing.T) (advisorBin, loadBin string) {
	t.Helper()
	return testbin.Advisor(t), testbin.Build(t, "internal/cmd/tcpload")
}

// binariesEntering is binaries for tests whose tcp-advisor enters other
// network namespaces (setns(2) needs CAP_SYS_ADMIN): under
// TCP_ADVISOR_TEST_KERNEL_EVENTS=refused its bpf() calls are refused
// instead of its capabilities dropped (testbin.AdvisorEntering).
func binariesEntering(t *testing.T) (advisorBin, loadBin string) {
	t.Helper()
	return testbin.AdvisorEntering(t), testbin.Build(t, "internal/cmd/tcpload")
}

// eventsRefused returns how tcp-advisor started by advisorBin says the
// kernel's connection events are unavailable: the start of every
// "kernel events unavailable: REASON" it prints (testbin.CapsDropped or
// testbin.BPFRefused); "" where it has them. The tests whose assertions
// depend on the events assert, where this is not "", what tcp-advisor
// promises without them.
func eventsRefused(advisorBin string) string {
	return testbin.Refused(advisorBin)
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// nobodyBinary copies bin into a directory of its own that every user,
// nobody (uid 65534) included, can reach and returns the copy's path: the
// test binaries' directory is root's alone. The directory goes when the
// test ends. A script that refuses the events program is replaced by its
// binary: nobody holds no capability, so the kernel refuses the program
// to the copy all the same.
func nobodyBinary(t *testing.T, bin string) string {
	t.Helper()
	b, err := os.ReadFile(testbin.Real(bin))
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
