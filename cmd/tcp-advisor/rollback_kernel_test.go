package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// runOnTerminal runs a command in ns with a terminal (a pty) as its
// standard input, typed answer ahead, and its output in pipes.
func runOnTerminal(t *testing.T, ns *netnstest.NS, answer string, name string, args ...string) (string, string, int) {
	t.Helper()
	ptmx, tty := openPTY(t)
	if _, err := ptmx.Write([]byte(answer)); err != nil {
		t.Fatal(err)
	}
	return runExitIn(t, ns, tty, name, args...)
}

// TestKernelRollbackAsks: rollback shows what it would restore and asks on
// a terminal; without one and without --yes, or answered no, it changes
// nothing. A key someone else changed is released, named as left alone
// with the --key that restores it, and kept; --key restores it.
func TestKernelRollbackAsks(t *testing.T) {
	const (
		portRange = "net.ipv4.ip_local_port_range"
		reserved  = "net.ipv4.ip_local_reserved_ports"
	)
	advisorBin, loadBin := binaries(t)
	ns := exhaustionNS(t)
	ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")
	ns.Start(t, "ready", loadBin, "closewait", "-addr", "127.0.0.1:41001", "-n", "0")
	state := filepath.Join(t.TempDir(), "state")

	if out, stderr, code := runExit(t, ns, advisorBin, "apply", "--yes", "--samples", "1", "--state-dir", state); code != 0 || !strings.Contains(out, "applied "+reserved) {
		t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
	}
	widened := ns.Sysctl(t, portRange)

	out, stderr, code := runExit(t, ns, advisorBin, "rollback", "--state-dir", state)
	if code != 1 || !strings.Contains(stderr, "nothing rolled back: pass --yes") || !strings.Contains(out, "Will restore:\n  "+portRange+` "`+widened+`" -> "40000 40999" (original)`) {
		t.Errorf("rollback without a terminal: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = runOnTerminal(t, ns, "n\n", advisorBin, "rollback", "--state-dir", state)
	if code != 1 || !strings.Contains(out, "Restore these original values? [y/N]") {
		t.Errorf("rollback answered n: exit %d\n%s%s", code, out, stderr)
	}
	if got := ns.Sysctl(t, portRange); got != widened {
		t.Fatalf("rollback without yes changed %s from %q to %q", portRange, widened, got)
	}

	// Someone else reserves another port: tcp-advisor lets go of the key.
	ns.SetSysctl(t, reserved, "41001,41500")
	out, stderr, code = runOnTerminal(t, ns, "y\n", advisorBin, "rollback", "--state-dir", state)
	if code != 0 {
		t.Fatalf("rollback answered y: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{
		"released " + reserved + `: changed outside tcp-advisor to "41001,41500"`,
		"Not restored (released",
		"  " + reserved + ` is "41001,41500", original ""; tcp-advisor rollback --key ` + reserved + " restores it",
		"restored " + portRange + ` = "40000 40999"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rollback output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "restored "+reserved) {
		t.Errorf("rollback restored the released key:\n%s", out)
	}
	if got := ns.Sysctl(t, portRange); got != "40000 40999" {
		t.Errorf("after rollback %s = %q", portRange, got)
	}
	if got := ns.Sysctl(t, reserved); got != "41001,41500" {
		t.Errorf("rollback changed the released %s to %q", reserved, got)
	}

	out = ns.MustRun(t, advisorBin, "rollback", "--yes", "--key", reserved, "--state-dir", state)
	if !strings.Contains(out, "restored "+reserved+` = ""`) || ns.Sysctl(t, reserved) != "" {
		t.Errorf("rollback --key %s: %q now\n%s", reserved, ns.Sysctl(t, reserved), out)
	}
	if out := ns.MustRun(t, advisorBin, "rollback", "--state-dir", state); !strings.Contains(out, "Nothing to roll back.") {
		t.Errorf("rollback with nothing left:\n%s", out)
	}
}
