package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// agentProc is a tcp-advisor run in a namespace.
type agentProc struct {
	cmd *exec.Cmd
	log *syncBuffer
}

// startAgent starts `tcp-advisor run` in ns and stops it (SIGTERM) at the
// end of the test unless the test stopped it.
func startAgent(t *testing.T, ns *netnstest.NS, bin string, args ...string) *agentProc {
	t.Helper()
	cmd := ns.Command(context.Background(), bin, append([]string{"run"}, args...)...)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agentProc{cmd: cmd, log: log}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
		t.Logf("agent log:\n%s", log.String())
	})
	return p
}

// tick is one second of tcpload dial output.
type tick struct {
	Second        int `json:"second"`
	OK            int `json:"ok"`
	EAddrNotAvail int `json:"eaddrnotavail"`
	Other         int `json:"other"`
	// Calls counts the dials' connect() calls: Go's dialer calls
	// connect() on a fresh socket twice more after EADDRNOTAVAIL.
	Calls int `json:"connect_calls"`
}

// dial runs tcpload dial in ns and returns its per-second results.
func dial(t *testing.T, ns *netnstest.NS, loadBin string, rate int, d time.Duration) []tick {
	t.Helper()
	out := ns.MustRun(t, loadBin, "dial", "-addr", "127.0.0.1:9000", "-rate", itoa(rate), "-duration", d.String(), "-serve")
	var ticks []tick
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var tk tick
		if err := json.Unmarshal(sc.Bytes(), &tk); err != nil {
			t.Fatalf("%v: %q", err, sc.Text())
		}
		ticks = append(ticks, tk)
	}
	return ticks
}

func failures(ticks []tick, from int) int {
	n := 0
	for _, tk := range ticks {
		if tk.Second >= from {
			n += tk.EAddrNotAvail + tk.Other
		}
	}
	return n
}

// exhaustionNS is the scenario: a 1000-port range, tcp_tw_reuse 0.
func exhaustionNS(t *testing.T) *netnstest.NS {
	t.Helper()
	ns := netnstest.New(t)
	ns.SetSysctl(t, "net.ipv4.ip_local_port_range", "40000 40999")
	ns.SetSysctl(t, "net.ipv4.tcp_tw_reuse", "0")
	// Timestamps off: tcp_tw_reuse = 1, the smaller change, cannot free
	// TIME_WAIT ports, so an exhausted destination needs the wider range.
	// Tests of the smallest change first turn them back on.
	ns.SetSysctl(t, "net.ipv4.tcp_timestamps", "0")
	return ns
}

// TestKernelAgentEnforceStopsExhaustion: a client dials 127.0.0.1:9000 at
// 300/s and closes first. Alone it exhausts 1000 ports within seconds. With
// tcp_tw_reuse_delay 4 s, tcp_tw_reuse = 1 alone would leave 300/s × 4 s =
// 1200 ports held: the agent enforcing every 2 s applies reuse, and widens
// the range — in the same plan where it measured the rate, or at a later
// tick once reuse is in effect and the destination still runs short — and
// the last 10 seconds of a 40-second run see no failure. status shows the
// change and the original; rollback restores every key exactly.
func TestKernelAgentEnforceStopsExhaustion(t *testing.T) {
	advisorBin, loadBin := binaries(t)

	t.Run("without agent", func(t *testing.T) {
		ns := exhaustionNS(t)
		ticks := dial(t, ns, loadBin, 300, 8*time.Second)
		if failures(ticks, 0) == 0 {
			t.Fatalf("no EADDRNOTAVAIL without the agent: %+v", ticks)
		}
		first := -1
		for _, tk := range ticks {
			if tk.EAddrNotAvail > 0 {
				first = tk.Second
				break
			}
		}
		t.Logf("without the agent connect() first failed with EADDRNOTAVAIL in second %d", first)
	})

	ns := exhaustionNS(t)
	ns.SetSysctl(t, "net.ipv4.tcp_timestamps", "1")
	ns.SetSysctl(t, "net.ipv4.tcp_tw_reuse_delay", "4000")
	stateDir := t.TempDir()
	agent := startAgent(t, ns, advisorBin, "--mode", "enforce", "--interval", "2s", "--state-dir", stateDir)
	ticks := dial(t, ns, loadBin, 300, 40*time.Second)
	if got := ns.Sysctl(t, "net.ipv4.tcp_tw_reuse"); got != "1" {
		t.Errorf("tcp_tw_reuse = %q, want 1 applied first", got)
	}
	if n := failures(ticks, 30); n != 0 {
		t.Errorf("%d failed connects in the last 10 s: %+v", n, ticks)
	}
	if n := failures(ticks, 0); n > 0 {
		t.Logf("%d connects failed before the range was widened", n)
	}
	r := ns.Sysctl(t, "net.ipv4.ip_local_port_range")
	if r == "40000 40999" {
		t.Fatalf("range not widened; log:\n%s", agent.log.String())
	}
	agent.stop(t, syscall.SIGTERM)
	if got := ns.Sysctl(t, "net.ipv4.ip_local_port_range"); got != r {
		t.Errorf("stopping the agent changed the range: %q -> %q", r, got)
	}

	var status struct {
		Managed []struct {
			Key, Original, LastWritten, Live string
		} `json:"managed"`
		LastChanges []struct{ Key, From, To, Rule, Action string } `json:"last_changes"`
	}
	out := ns.MustRun(t, advisorBin, "status", "--format", "json", "--state-dir", stateDir)
	if err := json.Unmarshal([]byte(out), &status); err != nil {
		t.Fatal(err)
	}
	originals := map[string]string{}
	for _, m := range status.Managed {
		originals[m.Key] = m.Original
	}
	if originals["net.ipv4.ip_local_port_range"] != "40000 40999" {
		t.Errorf("status originals = %v", originals)
	}
	found := false
	for _, c := range status.LastChanges {
		if c.Key == "net.ipv4.ip_local_port_range" && c.Action == "apply" && c.From == "40000 40999" && c.To != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("status lacks the range change:\n%s", out)
	}

	ns.MustRun(t, advisorBin, "rollback", "--yes", "--state-dir", stateDir)
	if got := ns.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Errorf("after rollback range = %q", got)
	}
	if got := ns.Sysctl(t, "net.ipv4.tcp_tw_reuse"); got != "0" {
		t.Errorf("after rollback tcp_tw_reuse = %q", got)
	}
	if got := ns.Sysctl(t, "net.ipv4.ip_local_reserved_ports"); got != "" {
		t.Errorf("after rollback reserved ports = %q", got)
	}
}

// TestKernelAgentDryRun: the same load in dry-run changes nothing and logs
// the recommendation once.
func TestKernelAgentDryRun(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	ns := exhaustionNS(t)
	stateDir := t.TempDir()
	agent := startAgent(t, ns, advisorBin, "--mode", "dry-run", "--interval", "2s", "--state-dir", stateDir)
	dial(t, ns, loadBin, 300, 20*time.Second)
	agent.stop(t, syscall.SIGTERM)
	if got := ns.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Errorf("dry-run changed the range to %q", got)
	}
	if got := ns.Sysctl(t, "net.ipv4.tcp_tw_reuse"); got != "0" {
		t.Errorf("dry-run changed tcp_tw_reuse to %q", got)
	}
	log := agent.log.String()
	if n := strings.Count(log, "dry-run: would set net.ipv4.ip_local_port_range"); n != 1 {
		t.Errorf("range recommendation logged %d times, want once:\n%s", n, log)
	}
	if strings.Contains(log, "change_applied") {
		t.Errorf("dry-run applied a change:\n%s", log)
	}
}

// TestKernelAgentKilledThenRollback: SIGKILL mid-run, then rollback restores
// every original value.
func TestKernelAgentKilledThenRollback(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	ns := exhaustionNS(t)
	stateDir := t.TempDir()
	agent := startAgent(t, ns, advisorBin, "--mode", "enforce", "--interval", "1s", "--state-dir", stateDir)
	dial(t, ns, loadBin, 300, 8*time.Second)
	agent.stop(t, syscall.SIGKILL)
	if got := ns.Sysctl(t, "net.ipv4.ip_local_port_range"); got == "40000 40999" {
		t.Fatalf("nothing was applied before the kill:\n%s", agent.log.String())
	}
	ns.MustRun(t, advisorBin, "rollback", "--yes", "--state-dir", stateDir)
	for key, want := range map[string]string{
		"net.ipv4.ip_local_port_range":     "40000 40999",
		"net.ipv4.tcp_tw_reuse":            "0",
		"net.ipv4.ip_local_reserved_ports": "",
	} {
		if got := ns.Sysctl(t, key); got != want {
			t.Errorf("after kill and rollback %s = %q, want %q", key, got, want)
		}
	}
}
