package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// The kernel tests of tcp-advisor's judgement: what it proposes for real
// loads in scratch namespaces, by the kernel's own rules for connect().

// dialer runs tcpload dial in the background and collects its seconds.
type dialer struct {
	mu    sync.Mutex
	ticks []tick
	done  chan struct{}
}

// startDial dials addr at rate for d in ns (serving it too when serve).
func startDial(t *testing.T, ns *netnstest.NS, loadBin, addr string, rate int, d time.Duration, serve bool) *dialer {
	t.Helper()
	args := []string{"dial", "-addr", addr, "-rate", itoa(rate), "-duration", d.String()}
	if serve {
		args = append(args, "-serve")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := ns.Command(ctx, loadBin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dl := &dialer{done: make(chan struct{})}
	go func() {
		defer close(dl.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var tk tick
			if json.Unmarshal(sc.Bytes(), &tk) == nil {
				dl.mu.Lock()
				dl.ticks = append(dl.ticks, tk)
				dl.mu.Unlock()
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		<-dl.done
	})
	return dl
}

// wait waits for the dialer to finish and returns its seconds.
func (d *dialer) wait() []tick {
	<-d.done
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ticks
}

// judgedJSON is the part of `diagnose --format json` these tests read.
type judgedJSON struct {
	Level  string                  `json:"level"`
	Worst  *advisor.DestinationUse `json:"worst"`
	States map[string]int          `json:"states"`
}

func diagnoseWorst(t *testing.T, ns *netnstest.NS, bin string, args ...string) judgedJSON {
	t.Helper()
	out := ns.MustRun(t, bin, append([]string{"diagnose", "--format", "json"}, args...)...)
	var d judgedJSON
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return d
}

func planChanges(t *testing.T, ns *netnstest.NS, bin string, args ...string) (planJSON, int) {
	t.Helper()
	out, stderr, code := runExit(t, ns, bin, append([]string{"plan", "--format", "json", "--detailed-exitcode", "--state-dir", t.TempDir()}, args...)...)
	var p planJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("plan: exit %d: %v\n%s%s", code, err, out, stderr)
	}
	return p, code
}

func changeTo(p planJSON, key string) (string, bool) {
	for _, c := range p.Changes {
		if c.Key == key {
			return c.To, true
		}
	}
	return "", false
}

// TestKernelReuseOnLoopbackNeedsNothing: 200 connections/s into a 1000-port
// range on loopback with the default tcp_tw_reuse = 2. Reuse is in effect
// towards loopback, so only the TIME_WAIT sockets younger than the reuse
// delay block connect(): no connect() fails, and the plan is empty — a
// wider range or tcp_tw_reuse = 1 would change nothing.
func TestKernelReuseOnLoopbackNeedsNothing(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	start := time.Now()
	ns := netnstest.New(t)
	ns.SetSysctl(t, "net.ipv4.ip_local_port_range", "40000 40999")
	ns.SetSysctl(t, "net.ipv4.tcp_tw_reuse", "2")
	dl := startDial(t, ns, loadBin, "127.0.0.1:9000", 200, 14*time.Second, true)
	time.Sleep(6 * time.Second)
	recordScenario(t, ns, advisorBin, "loopback-tw-reuse-2", 2*time.Second)
	time.Sleep(time.Until(start.Add(8 * time.Second)))

	d := diagnoseWorst(t, ns, advisorBin)
	w := d.Worst
	if w == nil {
		t.Fatal("no destination")
	}
	t.Logf("loopback, reuse 2: %d TIME_WAIT, %d ports held, %d unavailable, close rate %.0f/s, plateau %d (%.1f%%)",
		d.States["TIME_WAIT"], w.PortsInUse, w.PortsUnavailable, w.CloseRate, w.Plateau, 100*w.PlateauUtilization)
	if !w.ReuseInEffect || w.PortsUnavailable >= w.PortsInUse || w.PlateauUtilization >= 0.9 {
		t.Errorf("reuse not accounted for: %+v", *w)
	}
	p, code := planChanges(t, ns, advisorBin, "--samples", "2", "--interval", "1s")
	if code != 0 || len(p.Changes) != 0 {
		t.Errorf("plan exit %d with changes %+v; want an empty plan", code, p.Changes)
	}
	if n := failures(dl.wait(), 0); n != 0 {
		t.Errorf("%d connect() calls failed", n)
	}
}

// TestKernelFullDestinationOverALink: the same 200 connections/s, towards a
// backend in another namespace over a veth link. tcp_tw_reuse = 2 is not in
// effect there: TIME_WAIT fills the 1000 ports in five seconds and connect()
// fails with EADDRNOTAVAIL. Those failures count nowhere, so the demand
// (200/s × 60 s = 12,000 ports) is unseen; the smallest change that frees
// the ports comes first: tcp_tw_reuse = 1 alone (200/s × 1 s = 200 ports).
// Applied, it ends the failures, and the next plan is empty.
func TestKernelFullDestinationOverALink(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	client, backend := netnstest.New(t), netnstest.New(t)
	netnstest.Link(t, client, backend, "10.99.0.1/24", "10.99.0.2/24")
	client.SetSysctl(t, "net.ipv4.ip_local_port_range", "40000 40999")
	client.SetSysctl(t, "net.ipv4.tcp_tw_reuse", "2")
	backend.Start(t, "ready", loadBin, "serve", "-addr", "10.99.0.2:9000")
	start := time.Now()
	dl := startDial(t, client, loadBin, "10.99.0.2:9000", 200, 20*time.Second, false)
	time.Sleep(9 * time.Second)

	d := diagnoseWorst(t, client, advisorBin)
	w := d.Worst
	if w == nil || w.Remote != "10.99.0.2:9000" || w.ReuseInEffect || !w.Full {
		t.Fatalf("worst destination: %+v", w)
	}
	p, code := planChanges(t, client, advisorBin)
	if code != 2 {
		t.Fatalf("plan exit %d, want 2", code)
	}
	reuse, ok := changeTo(p, "net.ipv4.tcp_tw_reuse")
	if !ok || reuse != "1" || len(p.Changes) != 1 {
		t.Errorf("plan %+v: want tcp_tw_reuse = 1 alone", p.Changes)
	}
	if out, stderr, code := runExit(t, client, advisorBin, "apply", "--yes", "--samples", "1", "--state-dir", t.TempDir()); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
	}
	applied := time.Now()
	ticks := dl.wait()
	if failures(ticks, 0) == 0 {
		t.Error("no connect() failed: the destination was never full, the test proves nothing")
	}
	// The seconds after the change: the dialer started 9 s before the
	// diagnosis, the plan and apply took the rest.
	after := int(applied.Sub(start).Seconds()) + 1
	if n := failures(ticks, after); n != 0 {
		t.Errorf("%d connect() calls failed from second %d on, after tcp_tw_reuse = 1", n, after)
	}
	if p, code := planChanges(t, client, advisorBin); code != 0 || len(p.Changes) != 0 {
		t.Errorf("plan after reuse: exit %d with %+v; want nothing more", code, p.Changes)
	}
	t.Logf("over a link: %d ports held, full %v; tcp_tw_reuse = 1 applied at second %d, failures after: %d of %d seconds", w.PortsInUse, w.Full, after-1, failures(ticks, after), len(ticks)-after)
}

// TestKernelPlateauNeverWidened: destinations whose TIME_WAIT levels off
// inside the range are left alone by an enforcing agent — one at 12
// connections/s watched as it climbs to its 720-socket plateau, one steady
// at 60 % (10/s) when the agent starts cold.
func TestKernelPlateauNeverWidened(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	cases := []struct {
		name       string
		rate       int
		agentAfter time.Duration
	}{
		{"climbing at 12 per second", 12, 0},
		{"steady at 60 percent, cold start", 10, 62 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := exhaustionNS(t)
			start := time.Now()
			dl := startDial(t, ns, loadBin, "127.0.0.1:9000", tc.rate, 75*time.Second, true)
			time.Sleep(tc.agentAfter)
			state := t.TempDir()
			agent := startAgent(t, ns, advisorBin, "--mode", "enforce", "--interval", "1s", "--detail-interval", "5s", "--state-dir", state)
			time.Sleep(70*time.Second - tc.agentAfter)
			if tc.agentAfter > 0 {
				recordScenario(t, ns, advisorBin, "steady-backend", 2*time.Second)
			}
			time.Sleep(time.Until(start.Add(72 * time.Second)))
			d := diagnoseWorst(t, ns, advisorBin)
			agent.stop(t, 15)
			dl.wait()
			if got := ns.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
				t.Errorf("range widened to %q", got)
			}
			if strings.Contains(agent.log.String(), "change_applied") {
				t.Errorf("the agent changed something:\n%s", agent.log.String())
			}
			if w := d.Worst; w != nil {
				t.Logf("%d TIME_WAIT, plateau %d (%.1f%%) of %d", w.TimeWait, w.Plateau, 100*w.PlateauUtilization, w.PortsUsable)
			}
		})
	}
}

// TestKernelWideningKeepsLowAndReservesServices: under exhaustion the range
// grows upwards only, and the ports services hold in the part it takes in —
// a UDP socket and a TCP listener — are reserved in the same change; a UDP
// service below the range is left alone.
func TestKernelWideningKeepsLowAndReservesServices(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	ns := exhaustionNS(t)
	ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")
	ns.Start(t, "ready", loadBin, "udp", "-addr", "127.0.0.1:41500,127.0.0.1:39000")
	ns.Start(t, "ready", loadBin, "closewait", "-addr", "127.0.0.1:41600", "-n", "0")
	dir := t.TempDir()

	out, stderr, code := runExit(t, ns, advisorBin, "apply", "--yes", "--samples", "1", "--state-dir", dir)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
	}
	r, err := advisor.ParsePortRange(ns.Sysctl(t, "net.ipv4.ip_local_port_range"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Low != 40000 || r.High < 41600 {
		t.Fatalf("range %v: want the low end kept and the high end past 41600", r)
	}
	reserved, err := advisor.ParsePortSet(ns.Sysctl(t, "net.ipv4.ip_local_reserved_ports"))
	if err != nil {
		t.Fatal(err)
	}
	if !reserved.Contains(41500) || !reserved.Contains(41600) || reserved.Contains(39000) {
		t.Errorf("reserved %q: want the UDP 41500 and TCP 41600 services, not 39000 below the range", reserved)
	}
	t.Logf("range %v, reserved %s", r, reserved)
}

// TestKernelStateStaysInItsNamespace: a state recorded in one namespace is
// refused in another — rollback and apply there write nothing — and
// rollback in its own namespace restores it exactly. The test host's own
// namespace is untouched throughout.
func TestKernelStateStaysInItsNamespace(t *testing.T) {
	advisorBin, loadBin := binariesEntering(t)
	hostRange := netnstest.HostSysctl(t, "net.ipv4.ip_local_port_range")
	a, b := exhaustionNS(t), exhaustionNS(t)
	a.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "900")
	state := filepath.Join(t.TempDir(), "state")

	if _, stderr, code := runExit(t, a, advisorBin, "apply", "--yes", "--samples", "1", "--state-dir", state); code != 0 {
		t.Fatalf("apply in A: exit %d\n%s", code, stderr)
	}
	widened := a.Sysctl(t, "net.ipv4.ip_local_port_range")
	if widened == "40000 40999" {
		t.Fatal("nothing applied in A")
	}
	for _, args := range [][]string{{"rollback", "--yes"}, {"apply", "--yes", "--samples", "1"}} {
		_, stderr, code := runExit(t, b, advisorBin, append(args, "--state-dir", state)...)
		if code != 1 || !strings.Contains(stderr, "records sysctls of network namespace") {
			t.Errorf("%s in B: exit %d\n%s", args[0], code, stderr)
		}
	}
	if got := b.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Errorf("B changed to %q", got)
	}
	if got := a.Sysctl(t, "net.ipv4.ip_local_port_range"); got != widened {
		t.Errorf("A changed from %q to %q by commands in B", widened, got)
	}
	a.MustRun(t, advisorBin, "rollback", "--yes", "--state-dir", state)
	if got := a.Sysctl(t, "net.ipv4.ip_local_port_range"); got != "40000 40999" {
		t.Errorf("A after rollback: %q", got)
	}
	if got := netnstest.HostSysctl(t, "net.ipv4.ip_local_port_range"); got != hostRange {
		t.Errorf("the host's range changed from %q to %q", hostRange, got)
	}
}
