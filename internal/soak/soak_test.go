//go:build soak

// Package soak runs the agent for minutes under sustained churn: `make
// soak` (root needed; SOAK_DURATION, default 10m, sets how long). It is not
// part of `make test`.
package soak

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// The load: dialRate connections a second, closed by the client first,
// round robin over dialDests destinations (TIME_WAIT plateaus near
// dialRate × 60 s), and closeWaitProcs processes holding closeWaitEach
// CLOSE_WAIT sockets each (a process may hold 20,000 files).
const (
	dialRate       = 3000
	dialDests      = 16
	closeWaitProcs = 4
	closeWaitEach  = 1500
	warmUp         = 70 * time.Second // TIME_WAIT reaches its plateau
)

// tickRE reads the tick figures from the agent's STATUS line.
var tickRE = regexp.MustCompile(`TIME_WAIT (\d+); CLOSE_WAIT (\d+);.*; tick (\S+), (\d+) goroutines`)

// status is one STATUS line the agent sent.
type status struct {
	at                  time.Time
	timeWait, closeWait int
	tick                time.Duration
	goroutines          int
}

// TestSoak runs `tcp-advisor run --mode enforce --interval 1s` for
// SOAK_DURATION under churn and checks that every tick ends within its
// interval, RSS and goroutines stay flat, and no key flaps; it reports
// tick durations and CPU per tick. The agent's STATUS lines come through a
// NOTIFY_SOCKET the test listens on, as systemd's would.
func TestSoak(t *testing.T) {
	duration := 10 * time.Minute
	if d := os.Getenv("SOAK_DURATION"); d != "" {
		var err error
		if duration, err = time.ParseDuration(d); err != nil {
			t.Fatalf("SOAK_DURATION: %v", err)
		}
	}
	advisorBin := testbin.Build(t, "cmd/tcp-advisor")
	loadBin := testbin.Build(t, "internal/cmd/tcpload")
	ns := netnstest.NewIsolated(t, 1<<20)
	ns.SetSysctl(t, "net.ipv4.tcp_tw_reuse", "0")
	ns.SetSysctl(t, "net.ipv4.tcp_max_tw_buckets", "1000000")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var load []*exec.Cmd
	t.Cleanup(func() {
		cancel()
		for _, c := range load {
			_ = c.Wait()
		}
	})
	for i := range closeWaitProcs {
		c := ns.Command(ctx, loadBin, "closewait", "-addr", fmt.Sprintf("127.0.0.1:%d", 200+i), "-n", strconv.Itoa(closeWaitEach))
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		load = append(load, c)
	}
	addrs := make([]string, dialDests)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", 100+i) // below the ephemeral range
	}
	dial := ns.Command(ctx, loadBin, "dial", "-addr", strings.Join(addrs, ","), "-rate", strconv.Itoa(dialRate), "-conc", "4",
		"-duration", (duration + warmUp + time.Minute).String(), "-serve")
	if err := dial.Start(); err != nil {
		t.Fatal(err)
	}
	load = append(load, dial)

	// The agent's sd_notify socket.
	sockPath := filepath.Join(t.TempDir(), "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	var mu sync.Mutex
	var statuses []status
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				return
			}
			for _, line := range strings.Split(string(buf[:n]), "\n") {
				m := tickRE.FindStringSubmatch(line)
				if !strings.HasPrefix(line, "STATUS=") || m == nil {
					continue
				}
				tw, _ := strconv.Atoi(m[1])
				cw, _ := strconv.Atoi(m[2])
				took, _ := time.ParseDuration(m[3])
				g, _ := strconv.Atoi(m[4])
				mu.Lock()
				statuses = append(statuses, status{time.Now(), tw, cw, took, g})
				mu.Unlock()
			}
		}
	}()

	stateDir := t.TempDir()
	agent := ns.Command(context.Background(), advisorBin, "run", "--mode", "enforce", "--interval", "1s", "--state-dir", stateDir)
	agent.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath)
	logR, logW, _ := os.Pipe()
	agent.Stderr = logW
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	logW.Close()
	var logMu sync.Mutex
	var logLines []string
	go func() {
		sc := bufio.NewScanner(logR)
		for sc.Scan() {
			logMu.Lock()
			logLines = append(logLines, sc.Text())
			logMu.Unlock()
		}
	}()
	pid := agent.Process.Pid
	t.Cleanup(func() {
		if agent.ProcessState == nil {
			agent.Process.Kill()
			agent.Wait()
		}
	})

	time.Sleep(warmUp)
	startRSS, startCPU := rssKiB(t, pid), cpuTicks(t, pid)
	mu.Lock()
	startIdx := len(statuses)
	startG := statuses[startIdx-1].goroutines
	mu.Unlock()
	t.Logf("warm-up done: RSS %d KiB, %d goroutines; soaking for %s", startRSS, startG, duration)
	time.Sleep(duration)
	endRSS, endCPU := rssKiB(t, pid), cpuTicks(t, pid)
	mu.Lock()
	soak := slices.Clone(statuses[startIdx:])
	mu.Unlock()
	agent.Process.Signal(os.Interrupt)
	if err := agent.Wait(); err != nil {
		t.Errorf("agent exit: %v", err)
	}

	if len(soak) == 0 {
		t.Fatal("no STATUS lines during the soak")
	}
	ticks := make([]time.Duration, len(soak))
	minTW, maxTW, minCW := soak[0].timeWait, soak[0].timeWait, soak[0].closeWait
	for i, s := range soak {
		ticks[i] = s.tick
		minTW, maxTW, minCW = min(minTW, s.timeWait), max(maxTW, s.timeWait), min(minCW, s.closeWait)
	}
	slices.Sort(ticks)
	endG := soak[len(soak)-1].goroutines
	expected := int(duration / time.Second)
	cpuPerTick := time.Duration(float64(endCPU-startCPU) / 100 * float64(time.Second) / float64(len(soak)))
	t.Logf("soak of %s: %d ticks (%d expected at 1s)", duration, len(soak), expected)
	t.Logf("  TIME_WAIT %d..%d, CLOSE_WAIT >= %d", minTW, maxTW, minCW)
	t.Logf("  tick duration: median %s, p99 %s, max %s", ticks[len(ticks)/2], ticks[len(ticks)*99/100], ticks[len(ticks)-1])
	t.Logf("  CPU per tick: %s (user+system)", cpuPerTick.Round(10*time.Microsecond))
	t.Logf("  RSS: start %d KiB, end %d KiB; goroutines: start %d, end %d", startRSS, endRSS, startG, endG)

	if minTW < 150000 {
		t.Errorf("TIME_WAIT fell to %d: the load did not hold 150,000", minTW)
	}
	if minCW < closeWaitProcs*closeWaitEach {
		low := 0
		for _, s := range soak {
			if s.closeWait < closeWaitProcs*closeWaitEach {
				if low < 5 {
					t.Logf("  low CLOSE_WAIT at %s: %d", s.at.Format(time.TimeOnly), s.closeWait)
				}
				low++
			}
		}
		t.Errorf("CLOSE_WAIT fell to %d (%d of %d ticks below %d)", minCW, low, len(soak), closeWaitProcs*closeWaitEach)
	}
	if ticks[len(ticks)-1] >= time.Second {
		t.Errorf("a tick took %s, longer than its 1 s interval", ticks[len(ticks)-1])
	}
	if len(soak) < expected*95/100 {
		t.Errorf("%d ticks in %s: ticks were skipped", len(soak), duration)
	}
	if endG > startG+2 {
		t.Errorf("goroutines grew from %d to %d", startG, endG)
	}
	if endRSS > startRSS*12/10+2048 {
		t.Errorf("RSS grew from %d to %d KiB", startRSS, endRSS)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if flaps := flapped(logLines); len(flaps) > 0 {
		t.Errorf("keys changed back and forth: %v", flaps)
	}
	applied := 0
	for _, l := range logLines {
		if strings.Contains(l, " change_applied: ") {
			applied++
			t.Logf("  %s", l)
		}
		if strings.Contains(l, " outside_change: ") || strings.Contains(l, " observation_failed: ") || strings.Contains(l, " state_store: ") {
			t.Errorf("agent: %s", l)
		}
	}
	t.Logf("  %d changes applied", applied)
}

// appliedRE reads a change_applied line: key, from, to.
var appliedRE = regexp.MustCompile(` change_applied: set (\S+) from "([^"]*)" to "([^"]*)"`)

// flapped returns the keys set back to a value they had before.
func flapped(lines []string) []string {
	seen := map[string][]string{}
	var out []string
	for _, l := range lines {
		m := appliedRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		key, from, to := m[1], m[2], m[3]
		if len(seen[key]) == 0 {
			seen[key] = []string{from}
		}
		if slices.Contains(seen[key], to) {
			out = append(out, key)
		}
		seen[key] = append(seen[key], to)
	}
	return out
}

// rssKiB is VmRSS of pid.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(rest)[0])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// cpuTicks is utime + stime of pid, in clock ticks (100 a second).
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}
