package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds tcp-advisor and tcpload once per test run and returns their
// paths.
func binaries(t *testing.T) (advisorBin, loadBin string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "tcp-advisor-bin-")
		if buildErr != nil {
			return
		}
		for pkg, name := range map[string]string{".": "tcp-advisor", "../../internal/cmd/tcpload": "tcpload"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg).CombinedOutput()
			if err != nil {
				buildErr = &buildError{pkg: pkg, out: string(out), err: err}
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "tcp-advisor"), filepath.Join(binDir, "tcpload")
}

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string { return "go build " + e.pkg + ": " + e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
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
