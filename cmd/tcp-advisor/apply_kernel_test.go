package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKernelApplyPersistRollback: one-shot apply of the plan for a
// destination at 90%, with a policy that asks for a drop-in: in a network
// namespace other than the initial one no drop-in is written (it would
// configure the host at boot), and apply says so; rollback restores the
// originals. Without --yes and without a terminal, apply refuses and
// changes nothing.
func TestKernelApplyPersistRollback(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	ns := exhaustionNS(t)
	ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")
	ns.Start(t, "ready", loadBin, "closewait", "-addr", "127.0.0.1:41001", "-n", "0")

	dir := t.TempDir()
	dropIn := "/etc/sysctl.d/90-tcp-advisor-test-" + filepath.Base(dir) + ".conf"
	policyDir := filepath.Join(dir, "policies.d")
	if err := os.MkdirAll(policyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The shipped rules, with an agent block that persists.
	for _, name := range []string{"10-port-exhaustion.hcl", "20-time-wait-reuse.hcl"} {
		b, err := os.ReadFile(filepath.Join("../../policies", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(policyDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(policyDir, "00-agent.hcl"), []byte("agent {\n  mode = \"enforce\"\n  persist = true\n  persist_path = \""+dropIn+"\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(dir, "state")

	out, stderr, code := runExit(t, ns, advisorBin, "apply", "--policy", policyDir, "--state-dir", stateDir, "--samples", "1")
	if code == 0 || !strings.Contains(stderr, "--yes") {
		t.Errorf("apply without --yes on a pipe: exit %d\n%s%s", code, out, stderr)
	}
	if got := ns.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Fatalf("apply without confirmation changed the range to %q", got)
	}

	out, stderr, code = runExit(t, ns, advisorBin, "apply", "--yes", "--policy", policyDir, "--state-dir", stateDir, "--samples", "1")
	if code != 0 || !strings.Contains(out, "applied net.ipv4.ip_local_port_range") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(stderr, dropIn+" is not written: it configures the initial network namespace") {
		t.Errorf("apply does not say why the drop-in is not written:\n%s", stderr)
	}
	widened := ns.Sysctl(t, "net.ipv4.ip_local_port_range")
	if widened == "40000 40999" {
		t.Fatal("range not widened")
	}
	if got := ns.Sysctl(t, "net.ipv4.ip_local_reserved_ports"); !strings.Contains(got, "41001") {
		t.Errorf("listening port 41001 not reserved: %q (range %s)", got, widened)
	}
	if _, err := os.Stat(dropIn); !os.IsNotExist(err) {
		os.Remove(dropIn)
		t.Fatalf("a drop-in for the host was written from a scratch namespace: %v", err)
	}

	status := ns.MustRun(t, advisorBin, "status", "--state-dir", stateDir)
	if want := `original "40000 40999"`; !strings.Contains(status, want) {
		t.Errorf("status lacks %q:\n%s", want, status)
	}

	ns.MustRun(t, advisorBin, "rollback", "--yes", "--state-dir", stateDir)
	if got := ns.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Errorf("after rollback: %q", got)
	}
	if got := ns.Sysctl(t, "net.ipv4.ip_local_reserved_ports"); got != "" {
		t.Errorf("after rollback reserved = %q", got)
	}
}
