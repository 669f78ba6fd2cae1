package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

type planJSON struct {
	Level   string `json:"level"`
	Changes []struct {
		Key, From, To, Rule, Reason string
	} `json:"changes"`
	Advice []struct {
		Rule, Severity, Message string
	} `json:"advice"`
}

// runExit runs a command in ns and returns its stdout, stderr and exit code.
func runExit(t *testing.T, ns *netnstest.NS, name string, args ...string) (string, string, int) {
	t.Helper()
	return runExitIn(t, ns, nil, name, args...)
}

// runExitIn is runExit with stdin as the command's standard input.
func runExitIn(t *testing.T, ns *netnstest.NS, stdin io.Reader, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := ns.Command(t.Context(), name, args...)
	var stdout, stderr strings.Builder
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
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

// TestKernelPlanExhaustion: one destination at 90% of a 40000-40999 range
// with tcp_tw_reuse 0; the plan widens the range within the port range's
// kernel rules (advisor/KERNEL.md) and
// reserves the listening ports inside the new range.
func TestKernelPlanExhaustion(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	ns := exhaustionNS(t)
	ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")
	// Services listening around the range: above it, where a widened range
	// reaches first, and below it.
	for _, addr := range []string{"127.0.0.1:41500", "127.0.0.1:39500", "127.0.0.1:30001", "127.0.0.1:8080"} {
		ns.Start(t, "ready", loadBin, "closewait", "-addr", addr, "-n", "0")
	}

	out, stderr, code := runExit(t, ns, advisorBin, "plan", "--format", "json", "--detailed-exitcode", "--state-dir", t.TempDir())
	if code != 2 {
		t.Fatalf("exit %d, want 2 (changes proposed)\n%s%s", code, out, stderr)
	}
	var p planJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var newRange advisor.PortRange
	var reserved string
	for _, c := range p.Changes {
		switch c.Key {
		case "net.ipv4.ip_local_port_range":
			r, err := advisor.ParsePortRange(c.To)
			if err != nil {
				t.Fatal(err)
			}
			newRange = r
			if c.From != "40000 40999" || c.Rule == "" || !strings.Contains(c.Reason, "900") {
				t.Errorf("range change = %+v", c)
			}
		case "net.ipv4.ip_local_reserved_ports":
			reserved = c.To
		}
	}
	// The kernel's rules: low >= 1024 (and ip_unprivileged_port_start), high <=
	// 65535, low < high, different parity, and never narrower.
	if newRange.Low < 1024 || newRange.High > 65535 || newRange.Low >= newRange.High ||
		newRange.Low%2 == newRange.High%2 || newRange.Low > 40000 || newRange.High < 40999 || newRange.Size() <= 1000 {
		t.Fatalf("new range %v breaks the port range rules or does not widen", newRange)
	}
	set, err := advisor.ParsePortSet(reserved)
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range []int{41500, 39500, 30001, 8080} {
		if newRange.Contains(port) != set.Contains(port) {
			t.Errorf("listening port %d: inside new range %v = %v, reserved = %v (reserved %q)", port, newRange, newRange.Contains(port), set.Contains(port), reserved)
		}
	}
	if !newRange.Contains(41500) {
		t.Errorf("new range %v does not reach 41500: the test would not check reservation", newRange)
	}
	if got := ns.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Errorf("plan wrote the range: %q", got)
	}
	if got := ns.Sysctl(t, "net.ipv4.ip_local_reserved_ports"); got != "" {
		t.Errorf("plan wrote reserved ports: %q", got)
	}

	text, _, _ := runExit(t, ns, advisorBin, "plan", "--state-dir", t.TempDir())
	for _, want := range []string{`"40000 40999" ->`, "rule port-exhaustion", "net.ipv4.ip_local_reserved_ports"} {
		if !strings.Contains(text, want) {
			t.Errorf("text plan lacks %q:\n%s", want, text)
		}
	}
}

func TestKernelPlanIdle(t *testing.T) {
	advisorBin, _ := binaries(t)
	ns := netnstest.New(t)
	out, stderr, code := runExit(t, ns, advisorBin, "plan", "--format", "json", "--detailed-exitcode", "--state-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("idle namespace: exit %d\n%s%s", code, out, stderr)
	}
	var p planJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 0 {
		t.Errorf("idle namespace changes: %+v", p.Changes)
	}
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	syntax := write("syntax.hcl", "rule \"x\" {\n  when = true\n  message = \"m\"\n  oops = = 1\n}\n")
	recycle := write("recycle.hcl", "rule \"x\" {\n  when = true\n  message = \"m\"\n  set \"net.ipv4.tcp_tw_recycle\" {\n    value = 1\n  }\n}\n")
	panicKey := write("panic.hcl", "rule \"x\" {\n  when = true\n  message = \"m\"\n  set \"kernel.panic\" {\n    value = 1\n  }\n}\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"syntax error", []string{syntax}, 1, []string{syntax + ":4:"}},
		{"tcp_tw_recycle", []string{recycle}, 1, []string{recycle + ":4:", "4.12"}},
		{"kernel.panic", []string{panicKey}, 1, []string{panicKey + ":4:", "kernel.panic"}},
		{"shipped policies", []string{"../../policies"}, 0, []string{"ok:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := dispatch(append([]string{"validate"}, tt.args...), &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s", code, tt.wantCode, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
