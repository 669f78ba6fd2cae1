package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// probeEnv makes the test binary, started again, call bpf() and print the
// errno it got and its process id instead of running the tests.
const probeEnv = "NOBPF_TEST_PROBE"

func TestMain(m *testing.M) {
	if os.Getenv(probeEnv) == "1" {
		// BPF_MAP_CREATE with no attributes: EINVAL where bpf() is let
		// through and the caller may use it, EPERM where it is refused.
		_, _, errno := unix.Syscall(unix.SYS_BPF, 0, 0, 0)
		os.Stdout.WriteString(strconv.Itoa(int(errno)) + " " + strconv.Itoa(os.Getpid()) + "\n")
		os.Exit(0)
	}
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// probe runs the test binary's probe, through nobpf when nobpf is not "",
// and returns the errno of its bpf() call; it fails t unless the probe
// kept the process id it was started with.
func probe(t *testing.T, nobpf string) syscall.Errno {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	if nobpf != "" {
		cmd = exec.Command(nobpf, self)
	}
	cmd.Env = append(os.Environ(), probeEnv+"=1")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out.String())
	}
	var errno, pid int
	if _, err := fmt.Sscan(out.String(), &errno, &pid); err != nil {
		t.Fatalf("probe output %q: %v", out.String(), err)
	}
	if pid != cmd.Process.Pid {
		t.Errorf("%v: the probe ran as pid %d, started as %d: not exec'd", cmd.Args, pid, cmd.Process.Pid)
	}
	return syscall.Errno(errno)
}

// TestRefusesBPF: through nobpf, bpf() fails with EPERM even for root,
// whose own call is let through (EINVAL for its empty attributes), and the
// command keeps nobpf's process id.
func TestRefusesBPF(t *testing.T) {
	if os.Geteuid() != 0 {
		testbin.Missing(t, "needs root: only root's bpf() gets past the capability check")
	}
	if got := probe(t, ""); !errors.Is(got, unix.EINVAL) {
		t.Fatalf("without nobpf, bpf() failed with %v, want EINVAL: the test proves nothing", got)
	}
	if got := probe(t, testbin.Build(t, "internal/cmd/nobpf")); !errors.Is(got, unix.EPERM) {
		t.Errorf("through nobpf, bpf() failed with %v, want EPERM", got)
	}
}
