package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// sectionsJSON is the part of --all-namespaces JSON these tests read.
type sectionsJSON struct {
	Namespaces []struct {
		Netns struct {
			Inode     uint64 `json:"inode"`
			Name      string `json:"name"`
			Host      bool   `json:"host"`
			Processes []struct {
				PID     int    `json:"pid"`
				Command string `json:"command"`
			} `json:"processes"`
		} `json:"netns"`
		Diagnosis struct {
			Worst *struct {
				Remote     string `json:"remote"`
				PortsInUse int    `json:"ports_in_use"`
			} `json:"worst"`
			CloseWait struct {
				Count   int `json:"count"`
				ByOwner []struct {
					PID     int    `json:"pid"`
					Command string `json:"command"`
				} `json:"by_owner"`
			} `json:"close_wait"`
		} `json:"diagnosis"`
	} `json:"namespaces"`
}

// TestKernelAllNamespaces: from the host, diagnose --all-namespaces sees a
// named namespace at 900 TIME_WAIT towards one destination, by its name,
// and an unnamed one held only by a Python service with 300 CLOSE_WAIT,
// with its process and the CLOSE_WAIT under python3; --netns and
// --netns-pid look at one of them.
func TestKernelAllNamespaces(t *testing.T) {
	advisorBin, loadBin := binariesEntering(t)
	netnstest.RequireTools(t, "python3")
	python, _ := exec.LookPath("python3")
	named := exhaustionNS(t)
	named.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")
	leak := netnstest.Unnamed(t, "ready", python, "-c", leaker)
	leak.MustRun(t, loadBin, "dial", "-addr", "127.0.0.1:8000", "-rate", "100", "-duration", "3s")
	leakInode := leak.Inode(t)

	out, err := exec.Command(advisorBin, "diagnose", "--all-namespaces", "--format", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var all sectionsJSON
	if err := json.Unmarshal(out, &all); err != nil {
		t.Fatal(err)
	}
	var sawNamed, sawLeak, sawHost bool
	for _, sec := range all.Namespaces {
		n, d := sec.Netns, sec.Diagnosis
		switch {
		case n.Host:
			sawHost = true
		case n.Name == named.Name:
			sawNamed = true
			if w := d.Worst; w == nil || w.Remote != "127.0.0.1:9000" || w.PortsInUse < 890 {
				t.Errorf("named namespace: worst destination %+v, want 127.0.0.1:9000 with about 900 ports", w)
			}
		case n.Inode == leakInode:
			sawLeak = true
			if len(n.Processes) == 0 || n.Processes[0].PID != leak.PID || n.Processes[0].Command != "python3" {
				t.Errorf("unnamed namespace holders %+v, want python3 %d", n.Processes, leak.PID)
			}
			cw := d.CloseWait
			if cw.Count < 295 || len(cw.ByOwner) == 0 || cw.ByOwner[0].Command != "python3" || cw.ByOwner[0].PID != leak.PID {
				t.Errorf("unnamed namespace CLOSE_WAIT %+v, want 300 under python3", cw)
			}
		}
	}
	if !sawNamed || !sawLeak || !sawHost {
		t.Fatalf("named %v, unnamed %v, host %v in:\n%s", sawNamed, sawLeak, sawHost, out)
	}

	// record --all-namespaces keeps one series per namespace; the replay
	// judges each in a section of its own.
	recording := filepath.Join(t.TempDir(), "all.json.gz")
	if out, err := exec.Command(advisorBin, "record", "--all-namespaces", "--for", "1s", "--interval", "1s", "--output", recording).CombinedOutput(); err != nil {
		t.Fatalf("record --all-namespaces: %v\n%s", err, out)
	}
	out, err = exec.Command(advisorBin, "diagnose", "--replay", recording, "--format", "json").Output()
	var replayed sectionsJSON
	if err != nil || json.Unmarshal(out, &replayed) != nil || len(replayed.Namespaces) < 3 {
		t.Fatalf("diagnose --replay of every namespace: %v\n%s", err, out)
	}
	for _, sec := range replayed.Namespaces {
		if sec.Netns.Name == named.Name {
			if w := sec.Diagnosis.Worst; w == nil || w.Remote != "127.0.0.1:9000" {
				t.Errorf("replayed named namespace: worst destination %+v", w)
			}
		}
	}

	one, err := exec.Command(advisorBin, "diagnose", "--netns", named.Name, "--format", "json").Output()
	if err != nil || !strings.Contains(string(one), `"remote": "127.0.0.1:9000"`) || strings.Contains(string(one), `"namespaces"`) {
		t.Errorf("--netns %s: %v\n%s", named.Name, err, one)
	}
	byPID, err := exec.Command(advisorBin, "diagnose", "--netns-pid", strconv.Itoa(leak.PID)).Output()
	if err != nil || !strings.Contains(string(byPID), "CLOSE_WAIT, ") || !strings.Contains(string(byPID), "python3") {
		t.Errorf("--netns-pid %d: %v\n%s", leak.PID, err, byPID)
	}
}

// TestKernelAgentAllNamespaces: an agent on the host watches every
// namespace and enforces only where enforce_namespaces names it: the named
// namespace it names is widened, another exhausted named namespace, an
// unnamed one and the test host's own namespace are not; rollback from the
// host restores the named namespace exactly.
func TestKernelAgentAllNamespaces(t *testing.T) {
	advisorBin, loadBin := binariesEntering(t)
	netnstest.RequireTools(t, "python3")
	python, _ := exec.LookPath("python3")
	target, other := exhaustionNS(t), exhaustionNS(t)
	leak := netnstest.Unnamed(t, "ready", python, "-c", leaker)
	leak.SetSysctl(t, "net.ipv4.ip_local_port_range", "40000 40999")
	leak.MustRun(t, loadBin, "dial", "-addr", "127.0.0.1:8000", "-rate", "100", "-duration", "3s")
	hostRange := netnstest.HostSysctl(t, "net.ipv4.ip_local_port_range")
	hostReserved := netnstest.HostSysctl(t, "net.ipv4.ip_local_reserved_ports")
	// A container no runtime names, with a hostname of its own and
	// exhausted: the agent names it by that hostname.
	green := netnstest.UnnamedHost(t, "lb-green", "", "sleep", "300")
	green.SetSysctl(t, "net.ipv4.ip_local_port_range", "40000 40999")
	green.SetSysctl(t, "net.ipv4.tcp_tw_reuse", "0")
	// Timestamps off, as in exhaustionNS: tcp_tw_reuse = 1, the smaller
	// change, cannot free its ports, so it needs the wider range.
	green.SetSysctl(t, "net.ipv4.tcp_timestamps", "0")
	green.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")

	dir := t.TempDir()
	policy := dir + "/00-agent.hcl"
	if err := os.WriteFile(policy, []byte("agent {\n  mode = \"enforce\"\n  enforce_namespaces = [\""+target.Name+"\"]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	state := dir + "/state"
	for _, ns := range []*netnstest.NS{target, other} {
		ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")
	}
	cmd := exec.Command(advisorBin, "run", "--all-namespaces", "--interval", "1s", "--detail-interval", "2s", "--policy", policy, "--state-dir", state)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	agent := &agentProc{cmd: cmd, log: log}
	deadline := time.Now().Add(20 * time.Second)
	for target.Sysctl(t, "net.ipv4.ip_local_port_range") == "40000 40999" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a few more ticks in every namespace
	agent.stop(t, syscall.SIGTERM)
	out := log.String()
	widened := target.Sysctl(t, "net.ipv4.ip_local_port_range")
	if widened == "40000 40999" {
		t.Fatalf("the named namespace was not widened:\n%s", out)
	}
	if got := other.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Errorf("a namespace enforce_namespaces does not name changed to %q", got)
	}
	if got := leak.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Errorf("the unnamed namespace changed to %q", got)
	}
	if netnstest.HostSysctl(t, "net.ipv4.ip_local_port_range") != hostRange || netnstest.HostSysctl(t, "net.ipv4.ip_local_reserved_ports") != hostReserved {
		t.Error("the test host's own namespace changed")
	}
	for _, want := range []string{"NETNS=" + target.Name, "change_applied: [netns " + target.Name + "]", "[netns " + other.Name + "] dry-run: would set net.ipv4.ip_local_port_range",
		"[netns lb-green] dry-run: would set net.ipv4.ip_local_port_range", "NETNS=lb-green"} {
		if !strings.Contains(out, want) {
			t.Errorf("the agent's log lacks %q:\n%s", want, out)
		}
	}
	status := string(mustOutput(t, exec.Command(advisorBin, "status", "--state-dir", state)))
	if !strings.Contains(status, "network namespace "+target.Name) || !strings.Contains(status, `original "40000 40999"`) {
		t.Errorf("status:\n%s", status)
	}
	rolled := string(mustOutput(t, exec.Command(advisorBin, "rollback", "--yes", "--state-dir", state)))
	if got := target.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Errorf("after rollback from the host: %q\n%s", got, rolled)
	}
	if got := target.Sysctl(t, "net.ipv4.ip_local_reserved_ports"); got != "" {
		t.Errorf("reserved ports after rollback: %q", got)
	}
	if !strings.Contains(rolled, "in network namespace "+target.Name) {
		t.Errorf("rollback output:\n%s", rolled)
	}
}

func mustOutput(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return out
}
