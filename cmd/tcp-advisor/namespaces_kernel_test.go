package main

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"

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
			Connections struct {
				Worst *struct {
					Remote     string `json:"remote"`
					PortsInUse int    `json:"ports_in_use"`
				} `json:"worst_destination"`
			} `json:"connections"`
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
	advisorBin, loadBin := binaries(t)
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
			if w := d.Connections.Worst; w == nil || w.Remote != "127.0.0.1:9000" || w.PortsInUse < 890 {
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

	one, err := exec.Command(advisorBin, "diagnose", "--netns", named.Name, "--format", "json").Output()
	if err != nil || !strings.Contains(string(one), `"remote": "127.0.0.1:9000"`) || strings.Contains(string(one), `"namespaces"`) {
		t.Errorf("--netns %s: %v\n%s", named.Name, err, one)
	}
	byPID, err := exec.Command(advisorBin, "diagnose", "--netns-pid", strconv.Itoa(leak.PID)).Output()
	if err != nil || !strings.Contains(string(byPID), "CLOSE_WAIT, ") || !strings.Contains(string(byPID), "python3") {
		t.Errorf("--netns-pid %d: %v\n%s", leak.PID, err, byPID)
	}
}
