package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// timeWaitIn is sockstat's tw in ns: the sockets holding ports in TIME_WAIT.
func timeWaitIn(t *testing.T, ns *netnstest.NS) int {
	t.Helper()
	for line := range strings.Lines(ns.MustRun(t, "cat", "/proc/net/sockstat")) {
		f := strings.Fields(line)
		for i := 0; f[0] == "TCP:" && i+1 < len(f); i++ {
			if f[i] == "tw" {
				n, err := strconv.Atoi(f[i+1])
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
	}
	t.Fatal("no TCP tw in /proc/net/sockstat")
	return 0
}

// TestKernelAgentSeesEarly: a destination climbing at 16 connections/s
// into a 1000-port range levels off near 96 %. The agent, ticking every
// 2 s, recommends widening while fewer than half the ports are held: the
// pre-check dumps as soon as the connection rate says the range could run
// short, not once half of it is held (31 s into the load).
func TestKernelAgentSeesEarly(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	ns := exhaustionNS(t)
	agent := startAgent(t, ns, advisorBin, "--mode", "dry-run", "--interval", "2s", "--state-dir", t.TempDir())
	load := ns.Command(context.Background(), loadBin, "dial", "-addr", "127.0.0.1:9000", "-rate", "16", "-duration", "25s", "-serve")
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = load.Process.Kill(); _ = load.Wait() })
	start := time.Now()
	const wanted = "dry-run: would set net.ipv4.ip_local_port_range"
	for !strings.Contains(agent.log.String(), wanted) {
		if time.Since(start) > 25*time.Second {
			t.Fatalf("no recommendation within 25 s of the load:\n%s", agent.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	held := timeWaitIn(t, ns)
	t.Logf("recommended %s into the load, with %d TIME_WAIT sockets", time.Since(start).Round(100*time.Millisecond), held)
	if held >= 500 {
		t.Errorf("recommended only once %d of 1000 ports were held", held)
	}
	if !strings.Contains(agent.log.String(), "levels off at 9") {
		t.Errorf("the recommendation does not give the plateau near 96 %%:\n%s", agent.log.String())
	}
}

// runFromHost runs tcp-advisor from the test's own namespace. Other
// namespaces of the host may vanish while it looks at them, which makes
// plan exit 1 with the namespace's error on stderr: only an error that
// names none of this test's namespaces and leaves no output fails.
func runFromHost(bin string, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && (len(out) == 0 || !strings.Contains(stderr.String(), "namespace ")) {
		return out, fmt.Errorf("tcp-advisor %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// precheckSections is the part of --all-namespaces JSON the pre-check
// tests read.
type precheckSections struct {
	Namespaces []struct {
		Netns struct {
			Name string `json:"name"`
		} `json:"netns"`
		Precheck *struct {
			Dumped          bool   `json:"dumped"`
			Summary         string `json:"summary"`
			Asked           string `json:"asked"`
			ConnectFailures uint64 `json:"connect_failures"`
			Holding         int    `json:"sockets_holding_ports"`
			Usable          int    `json:"usable"`
			Plateau         int    `json:"plateau_bound"`
			Ahead           int    `json:"horizon_bound"`
		} `json:"precheck"`
		Diagnosis struct {
			Window struct {
				StatesComplete bool `json:"states_complete"`
			} `json:"window"`
			Events struct {
				Unavailable string `json:"unavailable"`
			} `json:"events"`
		} `json:"diagnosis"`
	} `json:"namespaces"`
}

// TestKernelAllNamespacesDumpsOnlyWhereNeeded: diagnose --all-namespaces
// dumps the namespace at 600 TIME_WAIT in a 1000-port range and the one
// with 150 CLOSE_WAIT sockets (the CLOSE_WAIT rule asks), and neither the
// idle namespaces nor one with five CLOSE_WAIT sockets, and says so for
// each; --full dumps every one.
func TestKernelAllNamespacesDumpsOnlyWhereNeeded(t *testing.T) {
	advisorBin, loadBin := binariesEntering(t)
	busy := exhaustionNS(t)
	busy.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "600")
	leak := netnstest.New(t)
	leak.Start(t, "ready", loadBin, "closewait", "-addr", "127.0.0.1:9100", "-n", "150")
	few := netnstest.New(t)
	few.Start(t, "ready", loadBin, "closewait", "-addr", "127.0.0.1:9100", "-n", "5")
	idle := []*netnstest.NS{netnstest.New(t), netnstest.New(t)}
	wantDumped := map[string]bool{busy.Name: true, leak.Name: true, few.Name: false, idle[0].Name: false, idle[1].Name: false}

	for _, tc := range []struct {
		args []string
		full bool
	}{
		{args: []string{"diagnose", "--all-namespaces", "--format", "json"}},
		{args: []string{"plan", "--all-namespaces", "--format", "json", "--samples", "1", "--state-dir", t.TempDir()}},
		{args: []string{"diagnose", "--all-namespaces", "--format", "json", "--full"}, full: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := runFromHost(advisorBin, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			var all precheckSections
			if err := json.Unmarshal(out, &all); err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, sec := range all.Namespaces {
				want, mine := wantDumped[sec.Netns.Name]
				if !mine {
					continue
				}
				seen++
				p := sec.Precheck
				if p == nil {
					t.Errorf("%s: no precheck section", sec.Netns.Name)
					continue
				}
				want = want || tc.full
				if p.Dumped != want || strings.HasPrefix(p.Summary, "dumped: yes") != want {
					t.Errorf("%s: dumped %v (%q), want %v", sec.Netns.Name, p.Dumped, p.Summary, want)
				}
				if tc.args[0] == "diagnose" && sec.Diagnosis.Window.StatesComplete != want {
					t.Errorf("%s: states_complete %v, want %v", sec.Netns.Name, sec.Diagnosis.Window.StatesComplete, want)
				}
				if sec.Netns.Name == leak.Name && !tc.full && !strings.Contains(p.Asked, "close-wait-leak") {
					t.Errorf("the CLOSE_WAIT namespace was dumped for %q, want the close-wait-leak rule", p.Asked)
				}
			}
			if seen != len(wantDumped) {
				t.Errorf("saw %d of the test's %d namespaces", seen, len(wantDumped))
			}
		})
	}

	// Text says it per namespace shown and in a last line.
	out, err := runFromHost(advisorBin, "diagnose", "--all-namespaces")
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	if !strings.Contains(text, "dumped: yes — a destination could run short: ") || !strings.Contains(text, "sockets dumped in ") {
		t.Errorf("text output does not say which namespaces were dumped:\n%s", text)
	}
}

// TestKernelAllNamespacesDumpsOnConnectFailures: a namespace whose
// connect() calls fail for lack of a port while it holds a dozen sockets
// of 28,232 usable ports (each socket's own range, IP_LOCAL_PORT_RANGE, is
// 10 ports, all in TIME_WAIT) looks quiet to the counters: a failing call
// never counts in ActiveOpens. With the kernel's connection events,
// diagnose --all-namespaces dumps it and says why; without them it does
// not, and its diagnosis says why the events are missing.
func TestKernelAllNamespacesDumpsOnConnectFailures(t *testing.T) {
	advisorBin, loadBin := binariesEntering(t)
	ns := netnstest.New(t)
	ns.SetSysctl(t, "net.ipv4.tcp_tw_reuse", "0")
	ctx, cancel := context.WithCancel(context.Background())
	load := ns.Command(ctx, loadBin, "dial", "-addr", "127.0.0.1:9000", "-rate", "50", "-duration", "60s", "-serve", "-port-range", "40000-40009")
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = load.Wait() })
	for start := time.Now(); timeWaitIn(t, ns) < 10; time.Sleep(100 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the socket range never filled: %d TIME_WAIT", timeWaitIn(t, ns))
		}
	}

	out, err := runFromHost(advisorBin, "diagnose", "--all-namespaces", "--format", "json", "--samples", "2", "--interval", "1s")
	if err != nil {
		t.Fatal(err)
	}
	var all precheckSections
	if err := json.Unmarshal(out, &all); err != nil {
		t.Fatal(err)
	}
	for _, sec := range all.Namespaces {
		p := sec.Precheck
		if sec.Netns.Name != ns.Name || p == nil {
			continue
		}
		t.Logf("%s", p.Summary)
		// Without the failures the ports would not call for a dump.
		if half := p.Usable / 2; p.Usable == 0 || p.Holding >= half || p.Plateau >= half || p.Ahead >= p.Usable {
			t.Fatalf("the namespace's ports alone call for the dump, the test proves nothing: %+v", *p)
		}
		if why := eventsRefused(advisorBin); why != "" {
			// Without the events the failures are unseen: the cheap
			// figures alone decide, and the diagnosis says why.
			if p.Dumped || p.ConnectFailures != 0 || !strings.HasPrefix(p.Summary, "dumped: no — ") || sec.Diagnosis.Window.StatesComplete ||
				!strings.HasPrefix(sec.Diagnosis.Events.Unavailable, why) {
				t.Errorf("dumped %v, %d failures, states complete %v (%q), events %q; want no dump, and events unavailable: %q...",
					p.Dumped, p.ConnectFailures, sec.Diagnosis.Window.StatesComplete, p.Summary, sec.Diagnosis.Events.Unavailable, why)
			}
			return
		}
		if !p.Dumped || p.ConnectFailures == 0 || !strings.HasPrefix(p.Summary, "dumped: yes — a destination is short: ") || !sec.Diagnosis.Window.StatesComplete {
			t.Errorf("dumped %v, %d failures, states complete %v (%q); want the dump for the failures",
				p.Dumped, p.ConnectFailures, sec.Diagnosis.Window.StatesComplete, p.Summary)
		}
		return
	}
	t.Fatalf("no precheck section for %s", ns.Name)
}
