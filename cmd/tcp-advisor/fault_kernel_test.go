package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// TestKernelCorruptStateStatusAndRollback: the agent's state file is cut
// short after its managed keys (a crash on a file system that does not
// order writes). status explains instead of failing to parse, and lists the
// originals; rollback restores each of them exactly, moves the torn file
// aside under a timestamped name and writes a new state.
func TestKernelCorruptStateStatusAndRollback(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	ns := exhaustionNS(t)
	ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")
	stateDir := t.TempDir()
	ns.MustRun(t, advisorBin, "apply", "--yes", "--state-dir", stateDir, "--samples", "1")
	if ns.Sysctl(t, "net.ipv4.ip_local_port_range") == "40000 40999" {
		t.Fatal("nothing applied")
	}
	path := filepath.Join(stateDir, "state.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := strings.Index(string(b), `"history"`) + 12
	torn := b[:cut]
	if err := os.WriteFile(path, torn, 0o640); err != nil {
		t.Fatal(err)
	}

	out, stderr, code := runExit(t, ns, advisorBin, "status", "--state-dir", stateDir)
	if code != 1 || !strings.Contains(out, "STATE FILE PROBLEM") || !strings.Contains(out, "corrupt") ||
		!strings.Contains(out, `original "40000 40999"`) || strings.Contains(stderr, "panic") {
		t.Errorf("status on a torn file: exit %d\n%s%s", code, out, stderr)
	}
	out, _, code = runExit(t, ns, advisorBin, "status", "--format", "json", "--state-dir", stateDir)
	var st struct {
		StateProblem string `json:"state_problem"`
		Managed      []struct{ Key, Original string }
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 1 || st.StateProblem == "" || len(st.Managed) == 0 {
		t.Errorf("status json: exit %d %v\n%s", code, err, out)
	}

	// apply refuses: it could not record what it changes.
	if _, stderr, code := runExit(t, ns, advisorBin, "apply", "--yes", "--state-dir", stateDir, "--samples", "1"); code == 0 || !strings.Contains(stderr, "nothing applied") {
		t.Errorf("apply over a torn state: exit %d: %s", code, stderr)
	}

	out, stderr, code = runExit(t, ns, advisorBin, "rollback", "--yes", "--state-dir", stateDir)
	if code != 0 || !strings.Contains(out, "moved the unreadable state file aside") {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, stderr)
	}
	for key, want := range map[string]string{
		"net.ipv4.ip_local_port_range":     "40000 40999",
		"net.ipv4.tcp_tw_reuse":            "0",
		"net.ipv4.ip_local_reserved_ports": "",
	} {
		if got := ns.Sysctl(t, key); got != want {
			t.Errorf("after rollback %s = %q, want %q", key, got, want)
		}
	}
	aside, _ := filepath.Glob(filepath.Join(stateDir, "state.json.corrupt-*"))
	if len(aside) != 1 {
		t.Fatalf("moved-aside files: %v", aside)
	}
	if kept, _ := os.ReadFile(aside[0]); string(kept) != string(torn) {
		t.Errorf("moved-aside file differs from the torn one")
	}
	if out, _, code := runExit(t, ns, advisorBin, "status", "--state-dir", stateDir); code != 0 || !strings.Contains(out, "manages no sysctl") {
		t.Errorf("status after rollback: exit %d\n%s", code, out)
	}
}

// TestKernelApplyUnprivileged: an unprivileged user cannot write
// /proc/sys/net. apply reports the key and the errno, changes nothing and
// records nothing as applied.
func TestKernelApplyUnprivileged(t *testing.T) {
	netnstest.RequireTools(t, "ip", "setpriv")
	advisorBin, loadBin := binaries(t)
	ns := exhaustionNS(t)
	ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")
	stateDir := t.TempDir()
	if err := os.Chmod(stateDir, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := nobodyBinary(t, advisorBin)
	parent := filepath.Dir(stateDir)
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runExit(t, ns, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		bin, "apply", "--yes", "--state-dir", filepath.Join(stateDir, "state"), "--samples", "1")
	if code == 0 {
		t.Fatalf("apply as nobody succeeded:\n%s%s", out, stderr)
	}
	if !strings.Contains(stderr, "net.ipv4.ip_local") || !strings.Contains(stderr, "EACCES") {
		t.Errorf("stderr lacks the key or the errno:\n%s", stderr)
	}
	if got := ns.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Errorf("range = %q", got)
	}
	if b, err := os.ReadFile(filepath.Join(stateDir, "state", "state.json")); err == nil && strings.Contains(string(b), `"apply"`) {
		t.Errorf("state records an apply:\n%s", b)
	}
}

// TestKernelAgentPlainStderr: no journal socket (a tmpfs hides it where
// there is one), no NOTIFY_SOCKET and stdout closed: the agent runs, logs
// plain lines to stderr, reports no error and exits 0 on SIGTERM.
func TestKernelAgentPlainStderr(t *testing.T) {
	advisorBin, _ := binaries(t)
	ns := netnstest.New(t)
	script := `mkdir -p /run/systemd/journal && mount -t tmpfs none /run/systemd/journal && exec "$@" >&-`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
		"ip", "netns", "exec", ns.Name, advisorBin, "run", "--interval", "1s", "--state-dir", t.TempDir())
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "NOTIFY_SOCKET=") })
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "agent_started") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // a tick or two more
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	log := stderr.String()
	if err != nil {
		t.Fatalf("agent exit: %v\n%s", err, log)
	}
	for _, want := range []string{" info policy_loaded: ", " info agent_started: ", " info agent_stopped: "} {
		if !strings.Contains(log, want) {
			t.Errorf("stderr lacks %q:\n%s", want, log)
		}
	}
	for _, bad := range []string{"journal:", "notify", "bad file descriptor", "panic"} {
		if strings.Contains(strings.ToLower(log), bad) {
			t.Errorf("stderr mentions %q:\n%s", bad, log)
		}
	}
}

// TestKernelAgentListensNowhere: the agent, enforcing and dumping sockets
// every second, opens no listening TCP, UDP or unix socket: nothing on the
// network can talk to it.
func TestKernelAgentListensNowhere(t *testing.T) {
	advisorBin, _ := binaries(t)
	ns := netnstest.New(t)
	agent := startAgent(t, ns, advisorBin, "--mode", "enforce", "--interval", "1s", "--detail-interval", "1s", "--state-dir", t.TempDir())
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(agent.log.String(), "agent_started") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for range 3 {
		// The namespace is the agent's alone: any listener would be its.
		if out := ns.MustRun(t, "ss", "-Htuxlnp"); strings.TrimSpace(out) != "" {
			t.Fatalf("listening sockets in the agent's namespace:\n%s", out)
		}
		time.Sleep(700 * time.Millisecond)
	}
	pid := agent.cmd.Process.Pid
	// ip netns exec execs the agent in place: the pid is the agent's.
	for _, f := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile("/proc/" + itoa(pid) + "/net/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if lines := strings.Count(strings.TrimSpace(string(b)), "\n"); lines != 0 {
			t.Errorf("/proc/%d/net/%s lists sockets:\n%s", pid, f, b)
		}
	}
	agent.stop(t, syscall.SIGTERM)
}
