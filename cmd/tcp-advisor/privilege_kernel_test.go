package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// TestKernelEnforceNeedsPrivilege: `run --mode enforce` as nobody, who may
// not write /proc/sys/net, stops at start with an error that names the key
// and what to do, instead of failing every tick; the namespace's sysctls
// are left alone.
func TestKernelEnforceNeedsPrivilege(t *testing.T) {
	netnstest.RequireTools(t, "ip", "setpriv")
	advisorBin, _ := binaries(t)
	ns := exhaustionNS(t)

	bin := nobodyBinary(t, advisorBin)
	dir := filepath.Dir(bin)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	cmd := ns.Command(ctx, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		bin, "run", "--mode", "enforce", "--interval", "1s", "--state-dir", filepath.Join(dir, "state"))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("run --mode enforce as nobody kept running:\n%s", stderr.String())
	}
	if cmd.ProcessState.ExitCode() != 1 || took > 10*time.Second {
		t.Errorf("run --mode enforce as nobody: %v after %v, want exit 1 at start", err, took.Round(time.Millisecond))
	}
	for _, want := range []string{
		"agent_failed: tcp-advisor agent failed: enforce mode needs to write the sysctls its rules set, and this process may not",
		"cannot write net.ipv4.ip_local_port_range, ",
		"(open /proc/sys/net/ipv4/ip_local_port_range: permission denied)",
		"or in dry-run mode",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if n := strings.Count(stderr.String(), "enforce mode needs to write"); n != 1 {
		t.Errorf("the error is printed %d times, want once:\n%s", n, stderr.String())
	}
	if strings.Contains(stderr.String(), "did not set") || strings.Contains(stderr.String(), "change_failed") {
		t.Errorf("the agent ticked and failed a change:\n%s", stderr.String())
	}
	if got := ns.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Errorf("range changed to %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Errorf("the refused agent created its state directory: %v", err)
	}
}
