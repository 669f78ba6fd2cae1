package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// The kernel tests of how each socket state is read: orphaned FIN_WAIT2
// towards a peer that never closes, an IPv6 destination, a listener's SYN
// queue.

// ssCount counts the sockets `ss -tan state STATE` lists in ns.
func ssCount(t *testing.T, ns *netnstest.NS, state string) int {
	t.Helper()
	out := ns.MustRun(t, "ss", "-Htan", "state", state)
	return len(strings.Split(strings.TrimSpace(out), "\n")) - btoi(strings.TrimSpace(out) == "")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// leakyBackend joins a client and a backend namespace over a veth link;
// the backend accepts connections on 10.99.0.2:9100 and never closes them
// (it leaks CLOSE_WAIT), so a client that closes first keeps orphans in
// FIN_WAIT2. The client's range is portRange.
func leakyBackend(t *testing.T, loadBin, portRange, finTimeout string) (client *netnstest.NS) {
	t.Helper()
	client, backend := netnstest.New(t), netnstest.New(t)
	netnstest.Link(t, client, backend, "10.99.0.1/24", "10.99.0.2/24")
	client.SetSysctl(t, "net.ipv4.ip_local_port_range", portRange)
	client.SetSysctl(t, "net.ipv4.tcp_fin_timeout", finTimeout)
	client.SetSysctl(t, "net.ipv4.tcp_tw_reuse", "0")
	backend.Start(t, "ready", loadBin, "closewait", "-addr", "10.99.0.2:9100", "-n", "0")
	return client
}

// TestKernelOrphanedFinWait2: a client closes first towards a backend that
// never closes. At 9 connections/s its orphans level off at 9 × 20 s = 180
// of 300 ports (60 %): the figures level off where ss does, the close rate
// is the orphans', nothing runs out and nothing is proposed. With
// tcp_fin_timeout 40 s, 10/s fill the destination (400 > 300): the plan
// lowers tcp_fin_timeout, names the peer, and proposes neither
// tcp_tw_reuse (it never takes an orphan's port) nor a wider range (a
// lower tcp_fin_timeout suffices), also from a window wholly in the full
// phase, where the demand is the connection events' attempts. 1,500 orphans on a 28,232-port range do
// no harm and change nothing.
func TestKernelOrphanedFinWait2(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	t.Run("1500 harmless orphans", func(t *testing.T) {
		t.Parallel()
		client := leakyBackend(t, loadBin, "32768 60999", "60")
		client.MustRun(t, loadBin, "dial", "-addr", "10.99.0.2:9100", "-rate", "500", "-duration", "3s")
		inSS := ssCount(t, client, "fin-wait-2")
		p, code := planChanges(t, client, advisorBin, "--samples", "2", "--interval", "1s")
		t.Logf("%d orphans in ss on a 28,232-port range: plan exit %d, %d change(s), %d advice", inSS, code, len(p.Changes), len(p.Advice))
		if inSS < 1200 {
			t.Fatalf("%d orphans: the test proves nothing", inSS)
		}
		if code != 0 || len(p.Changes) != 0 || len(p.Advice) != 0 {
			t.Errorf("plan exit %d with %+v and %+v; want nothing", code, p.Changes, p.Advice)
		}
	})
	t.Run("levelling off at 60 percent", func(t *testing.T) {
		t.Parallel()
		client := leakyBackend(t, loadBin, "40000 40299", "20")
		dl := startDial(t, client, loadBin, "10.99.0.2:9100", 9, 30*time.Second, false)
		time.Sleep(26 * time.Second)
		// ss counts just before and just after diagnose: on a loaded
		// machine the paced dialer catches up in bursts, and the count
		// moves while diagnose samples.
		ssBefore := ssCount(t, client, "fin-wait-2")
		d := diagnoseWorst(t, client, advisorBin)
		ssAfter := ssCount(t, client, "fin-wait-2")
		w := d.Worst
		if w == nil {
			t.Fatal("no destination")
		}
		t.Logf("ss: %d then %d FIN-WAIT-2; tool: %d orphaned, %d open, orphan rate %.1f/s × %.0f s, plateau %d (%.1f%%), runs out: %v",
			ssBefore, ssAfter, w.FinWait2Orphaned, w.Open, w.OrphanCloseRate, w.OrphanHoldSeconds, w.Plateau, 100*w.PlateauUtilization, w.SecondsToExhaustion != nil)
		if w.FinWait2Orphaned < min(ssBefore, ssAfter)-15 || w.FinWait2Orphaned > max(ssBefore, ssAfter)+15 || w.TimeWait != 0 {
			t.Errorf("%d orphans and %d TIME_WAIT counted; ss lists %d then %d FIN-WAIT-2", w.FinWait2Orphaned, w.TimeWait, ssBefore, ssAfter)
		}
		if w.OrphanHoldSeconds != 20 || w.OrphanCloseRate < 6 || w.OrphanCloseRate > 12 {
			t.Errorf("orphans close at %.1f/s and wait %.0f s; want about 9/s and 20 s", w.OrphanCloseRate, w.OrphanHoldSeconds)
		}
		if w.Plateau < 130 || w.Plateau > 230 || w.SecondsToExhaustion != nil {
			t.Errorf("plateau %d, runs out in %v; want about 180 and never", w.Plateau, w.SecondsToExhaustion)
		}
		p, code := planChanges(t, client, advisorBin, "--samples", "2", "--interval", "1s")
		if code != 0 || len(p.Changes) != 0 {
			t.Errorf("plan exit %d with %+v; want nothing at a 60%% plateau", code, p.Changes)
		}
		dl.wait()
	})
	t.Run("a full destination", func(t *testing.T) {
		t.Parallel()
		client := leakyBackend(t, loadBin, "40000 40299", "40")
		dl := startDial(t, client, loadBin, "10.99.0.2:9100", 10, 44*time.Second, false)
		// Full since about the 30th second: every dial fails, and each
		// makes 3 connect() calls, two of them immediate retries. Both
		// windows lie wholly in the full phase, where the demand is the
		// events' alone: the attempts, not the calls, must size it.
		time.Sleep(36 * time.Second)
		d := diagnoseWorst(t, client, advisorBin, "--samples", "2", "--interval", "1s")
		p, code := planChanges(t, client, advisorBin, "--samples", "2", "--interval", "1s")
		if code != 2 {
			t.Fatalf("plan exit %d, want 2: %+v", code, p)
		}
		fin, ok := changeTo(p, "net.ipv4.tcp_fin_timeout")
		if n, err := strconv.Atoi(fin); !ok || err != nil || n >= 40 {
			t.Errorf("tcp_fin_timeout %q: want it lowered from 40: %+v", fin, p.Changes)
		}
		for _, key := range []string{"net.ipv4.tcp_tw_reuse", "net.ipv4.ip_local_port_range"} {
			if to, ok := changeTo(p, key); ok {
				t.Errorf("%s = %s proposed; the smallest change is tcp_fin_timeout: %+v", key, to, p.Changes)
			}
		}
		for _, c := range p.Changes {
			if c.Key == "net.ipv4.tcp_fin_timeout" && !strings.Contains(c.Reason, "10.99.0.2:9100 does not close its end") {
				t.Errorf("the reason does not name the peer:\n%s", c.Reason)
			}
		}
		ticks := dl.wait()
		if failures(ticks, 0) == 0 {
			t.Error("no connect() failed: the destination was never full")
		}
		if why := eventsRefused(advisorBin); why == "" {
			fullAttempts(t, d.Worst, ticks, 31)
		} else if d.Worst == nil || d.Worst.OpensPerSecond != nil {
			t.Errorf("without the events (%s) the full destination has a call rate: %+v", why, d.Worst)
		}
		t.Logf("full destination: tcp_fin_timeout 40 -> %s", fin)
	})
}

// fullAttempts checks the connection events of a destination that is full
// from second from of the dial on: the attempts per second, all failed, are
// the client's own count of its dials, not of its connect() calls (each
// failing Go dial makes three); two calls in three are immediate retries;
// all by the client.
func fullAttempts(t *testing.T, w *advisor.DestinationUse, ticks []tick, from int) {
	t.Helper()
	var dials, calls, seconds int
	for _, tk := range ticks {
		if tk.Second >= from && tk.OK == 0 && tk.Calls > 0 {
			dials += tk.EAddrNotAvail + tk.Other
			calls += tk.Calls
			seconds++
		}
	}
	if seconds == 0 {
		t.Fatalf("no full second from second %d on: %+v", from, ticks)
	}
	want := float64(dials) / float64(seconds)
	if w == nil || w.OpensPerSecond == nil || w.FailuresPerSecond == nil || w.ConnectFailures == nil || w.ConnectRetries == nil || len(w.Openers) == 0 {
		t.Fatalf("no connection events for the full destination: %+v", w)
	}
	t.Logf("full: the client dialled %.1f/s with %.1f connect() calls/s; the events count %.1f attempts/s, %.1f/s failed; %d failed calls, %d immediate retries",
		want, float64(calls)/float64(seconds), *w.OpensPerSecond, *w.FailuresPerSecond, *w.ConnectFailures, *w.ConnectRetries)
	if got := *w.FailuresPerSecond; got < want*0.75 || got > want*1.25 {
		t.Errorf("%.1f failed attempts/s counted, the client dialled %.1f/s", got, want)
	}
	if f, r := float64(*w.ConnectFailures), float64(*w.ConnectRetries); f == 0 || r < f*2/3*0.9 || r > f*2/3*1.1 {
		t.Errorf("%d immediate retries of %d failed calls: want two in three", *w.ConnectRetries, *w.ConnectFailures)
	}
	if *w.FailuresPerSecond != *w.OpensPerSecond || w.Openers[0].Command != "tcpload" {
		t.Errorf("%.1f attempts/s failed of %.1f/s, by %+v: want all, by tcpload", *w.FailuresPerSecond, *w.OpensPerSecond, w.Openers)
	}
}

// TestKernelIPv6Destination: TIME_WAIT towards an IPv6 backend over a link
// fills its 1000 ports like an IPv4 one; it is counted per destination,
// found full, and gets tcp_tw_reuse = 1 (2 is for loopback only).
func TestKernelIPv6Destination(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	client, backend := netnstest.New(t), netnstest.New(t)
	netnstest.Link(t, client, backend, "10.99.1.1/24", "10.99.1.2/24")
	for _, side := range []struct {
		ns   *netnstest.NS
		addr string
	}{{client, "fd00:99::1/64"}, {backend, "fd00:99::2/64"}} {
		dev := strings.Fields(side.ns.MustRun(t, "sh", "-c", "ls /sys/class/net | grep veth"))[0]
		side.ns.MustRun(t, "ip", "-6", "addr", "add", side.addr, "dev", dev, "nodad")
	}
	client.SetSysctl(t, "net.ipv4.ip_local_port_range", "40000 40999")
	client.SetSysctl(t, "net.ipv4.tcp_tw_reuse", "2")
	backend.Start(t, "ready", loadBin, "serve", "-addr", "[fd00:99::2]:9000")
	dl := startDial(t, client, loadBin, "[fd00:99::2]:9000", 200, 10*time.Second, false)
	time.Sleep(8 * time.Second)
	d := diagnoseWorst(t, client, advisorBin)
	w := d.Worst
	if w == nil || w.Remote != "[fd00:99::2]:9000" || w.Local != "fd00:99::1" || !w.Full || w.ReuseInEffect {
		t.Fatalf("worst destination: %+v", w)
	}
	p, code := planChanges(t, client, advisorBin)
	dl.wait()
	if reuse, ok := changeTo(p, "net.ipv4.tcp_tw_reuse"); code != 2 || !ok || reuse != "1" {
		t.Errorf("plan exit %d: %+v; want tcp_tw_reuse = 1", code, p.Changes)
	}
	t.Logf("IPv6: %d ports held towards %s, %d in TIME_WAIT, full %v", w.PortsInUse, w.Remote, w.TimeWait, w.Full)
}

// TestKernelSynQueueOverflow: with tcp_syncookies 0 and somaxconn 8, a
// listener whose SYN-ACKs never reach the client (the backend sends them
// to a MAC address nobody has) keeps its request sockets in SYN_RECV
// until its SYN queue is full, and drops every further SYN
// (TCPReqQFullDrop). diagnose finds the listener, its SYN_RECV count and
// the backlog that limits it; the plan explains it.
func TestKernelSynQueueOverflow(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	client, backend := netnstest.New(t), netnstest.New(t)
	netnstest.Link(t, client, backend, "10.99.2.1/24", "10.99.2.2/24")
	backend.SetSysctl(t, "net.core.somaxconn", "8")
	backend.SetSysctl(t, "net.ipv4.tcp_syncookies", "0")
	dev := strings.Fields(backend.MustRun(t, "sh", "-c", "ls /sys/class/net | grep veth"))[0]
	backend.MustRun(t, "ip", "neigh", "replace", "10.99.2.1", "lladdr", "02:00:00:00:99:01", "dev", dev, "nud", "permanent")
	// Go listens with somaxconn as its backlog: min(8, 8).
	backend.Start(t, "ready", loadBin, "serve", "-addr", "10.99.2.2:9000")
	before := netstatCounter(t, backend, "TCPReqQFullDrop")
	client.MustRun(t, loadBin, "dial", "-addr", "10.99.2.2:9000", "-rate", "40", "-conc", "40", "-duration", "3s")
	drops := netstatCounter(t, backend, "TCPReqQFullDrop") - before

	var d struct {
		Queues struct {
			SynQueues []struct {
				Address string `json:"address"`
				SynRecv int    `json:"syn_recv"`
				Backlog int    `json:"backlog"`
			} `json:"syn_queues"`
		} `json:"queues"`
	}
	diagnoseInto(t, backend, advisorBin, &d, "--samples", "1")
	inSS := ssCount(t, backend, "syn-recv")
	t.Logf("TCPReqQFullDrop +%d; ss: %d SYN-RECV; tool: %+v", drops, inSS, d.Queues.SynQueues)
	if drops == 0 {
		t.Fatal("no SYN was dropped: the test proves nothing")
	}
	if q := d.Queues.SynQueues; len(q) != 1 || q[0].Address != "10.99.2.2:9000" || q[0].Backlog != 8 || q[0].SynRecv != inSS || q[0].SynRecv < 8 {
		t.Errorf("SYN queues %+v: want 10.99.2.2:9000 with its %d SYN_RECV against a backlog of 8", q, inSS)
	}
	out, _, _ := runExit(t, backend, advisorBin, "plan", "--samples", "2", "--interval", "1s", "--state-dir", t.TempDir())
	for _, want := range []string{"syn-queue-overflow", "SYN queue of 10.99.2.2:9000", "against its limit of 8"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
}

// diagnoseInto runs diagnose --format json in ns and decodes it into v.
func diagnoseInto(t *testing.T, ns *netnstest.NS, bin string, v any, args ...string) {
	t.Helper()
	out := ns.MustRun(t, bin, append([]string{"diagnose", "--format", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// netstatCounter reads one TcpExt counter in ns.
func netstatCounter(t *testing.T, ns *netnstest.NS, name string) int {
	t.Helper()
	lines := strings.Split(ns.MustRun(t, "cat", "/proc/net/netstat"), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		keys, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j := range keys {
			if keys[0] == "TcpExt:" && keys[j] == name && j < len(vals) {
				n, _ := strconv.Atoi(vals[j])
				return n
			}
		}
	}
	t.Fatalf("no TcpExt %s", name)
	return 0
}
