package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKernelApplyPersistRollback: one-shot apply of the plan for a
// destination at 90%, with a policy that persists to a drop-in; rollback
// restores the originals and removes the drop-in. Without --yes and without
// a terminal, apply refuses and changes nothing.
func TestKernelApplyPersistRollback(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	ns := exhaustionNS(t)
	ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")
	startHolder(t, ns, loadBin, "closewait", "-addr", "127.0.0.1:41001", "-n", "0")

	dir := t.TempDir()
	// persist_path may only name a file in /etc/sysctl.d: the commands
	// run with a scratch directory bind-mounted there (private mounts).
	sysctlD := filepath.Join(dir, "sysctl.d")
	os.MkdirAll(sysctlD, 0o755)
	const dropInPath = "/etc/sysctl.d/90-tcp-advisor-test.conf"
	dropIn := filepath.Join(sysctlD, filepath.Base(dropInPath))
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
		os.WriteFile(filepath.Join(policyDir, name), b, 0o644)
	}
	os.WriteFile(filepath.Join(policyDir, "00-agent.hcl"), []byte("agent {\n  mode = \"enforce\"\n  persist = true\n  persist_path = \""+dropInPath+"\"\n}\n"), 0o644)
	stateDir := filepath.Join(dir, "state")

	withSysctlD := func(args ...string) []string {
		return append([]string{"--mount", "--propagation", "private", "sh", "-c", `mount --bind "$0" /etc/sysctl.d && exec "$@"`, sysctlD, "ip", "netns", "exec", ns.Name, advisorBin}, args...)
	}
	out, stderr, code := runHost(t, "unshare", withSysctlD("apply", "--policy", policyDir, "--state-dir", stateDir, "--samples", "1")...)
	if code == 0 || !strings.Contains(stderr, "--yes") {
		t.Errorf("apply without --yes on a pipe: exit %d\n%s%s", code, out, stderr)
	}
	if got := ns.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Fatalf("apply without confirmation changed the range to %q", got)
	}

	out, stderr, code = runHost(t, "unshare", withSysctlD("apply", "--yes", "--policy", policyDir, "--state-dir", stateDir, "--samples", "1")...)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "applied net.ipv4.ip_local_port_range") {
		t.Fatalf("apply output:\n%s", out)
	}
	widened := ns.Sysctl(t, "net.ipv4.ip_local_port_range")
	if widened == "40000 40999" {
		t.Fatal("range not widened")
	}
	if got := ns.Sysctl(t, "net.ipv4.ip_local_reserved_ports"); !strings.Contains(got, "41001") {
		t.Errorf("listening port 41001 not reserved: %q (range %s)", got, widened)
	}
	conf, err := os.ReadFile(dropIn)
	if err != nil {
		t.Fatalf("drop-in not written: %v", err)
	}
	if !strings.HasPrefix(string(conf), "# Written by tcp-advisor") || !strings.Contains(string(conf), "net.ipv4.ip_local_port_range = "+widened) {
		t.Errorf("drop-in:\n%s", conf)
	}

	status := ns.MustRun(t, advisorBin, "status", "--state-dir", stateDir)
	for _, want := range []string{`original "40000 40999"`, dropInPath} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}

	if out, stderr, code := runHost(t, "unshare", withSysctlD("rollback", "--state-dir", stateDir)...); code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, stderr)
	}
	if got := ns.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Errorf("after rollback: %q", got)
	}
	if got := ns.Sysctl(t, "net.ipv4.ip_local_reserved_ports"); got != "" {
		t.Errorf("after rollback reserved = %q", got)
	}
	if _, err := os.Stat(dropIn); !os.IsNotExist(err) {
		t.Errorf("drop-in still there after rollback: %v", err)
	}
	if fi, err := os.Stat(stateDir + "/state.json"); err != nil || fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("state file %v %v: others may read it", fi, err)
	}
}

// runHost runs a command outside any namespace and returns its stdout,
// stderr and exit code.
func runHost(t *testing.T, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	t.Fatal(err)
	return "", "", -1
}
