package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
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

// startHolder starts a long-running command in ns, waits for it to print
// "ready", and stops it when the test ends.
func startHolder(t *testing.T, ns *netnstest.NS, name string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := ns.Command(ctx, name, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "ready" {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("%s exited before it was ready", name)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s not ready after 30s", name)
	}
	return cmd
}

// nobodyBinary copies bin into a directory of its own that every user,
// nobody (uid 65534) included, can reach and returns the copy's path: the
// test binaries' directory is root's alone. The directory goes when the
// test ends.
func nobodyBinary(t *testing.T, bin string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tcp-advisor-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(dir, filepath.Base(bin))
	if err := os.WriteFile(copied, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return copied
}

// execCmd lets helpers hang methods on a running command.
type execCmd exec.Cmd

// stop signals the agent and waits for it to exit.
func (p *agentProc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	cmd := (*exec.Cmd)(p.cmd)
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if sig == syscall.SIGTERM && err != nil {
		t.Errorf("agent exit after SIGTERM: %v\n%s", err, p.log.String())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
