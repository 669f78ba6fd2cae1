package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor/observe/connevents"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// The connection rate the events program is measured at, and the most it
// may cost the connections: the CPU time the load spends per connection
// (connect() and close() run the tracepoint in the caller's context) with
// the program attached, over that without.
const (
	eventsRate        = 20000
	maxEventsOverhead = 0.03
)

// loadRun is one fixed-rate connect load: the connections made and the CPU
// time the load process used.
type loadRun struct {
	ok  int
	cpu time.Duration
}

func (r loadRun) cpuPerConn() time.Duration {
	if r.ok == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.ok)
}

// dialLoad runs tcpload dial at rate for d inside ns and returns what it made
// and the CPU it used.
func dialLoad(b *testing.B, ns *netnstest.NS, loadBin string, rate int, d time.Duration) loadRun {
	b.Helper()
	cmd := ns.Command(b.Context(), loadBin, "dial", "-addr", "127.0.0.1:9000", "-rate", strconv.Itoa(rate), "-conc", "8",
		"-duration", d.String(), "-serve")
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("tcpload dial: %v", err)
	}
	var r loadRun
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var tk struct {
			OK            int `json:"ok"`
			EAddrNotAvail int `json:"eaddrnotavail"`
			Other         int `json:"other"`
		}
		if err := json.Unmarshal([]byte(line), &tk); err != nil {
			b.Fatalf("tcpload dial: %q: %v", line, err)
		}
		if tk.EAddrNotAvail+tk.Other > 0 {
			b.Fatalf("tcpload dial failed: %s", out)
		}
		r.ok += tk.OK
	}
	// ip netns exec execs the command: its rusage is tcpload's.
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return r
}

// procCPU is the CPU time process pid has used so far.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// BenchmarkConnectEvents measures what the connection-events program
// costs: a loopback load of 20,000 connections/s (8 dialers, each closing
// first) in a scratch namespace, alternately without and with the program
// attached, 3 rounds of 4 s, comparing the load's CPU time per connection
// (medians); then the agent's own CPU while it ticks every second under
// the same load.
func BenchmarkConnectEvents(b *testing.B) {
	netnstest.Require(b)
	loadBin := testbin.Build(b, "internal/cmd/tcpload")
	advisorBin := testbin.Build(b, "cmd/tcp-advisor")
	ns := netnstest.New(b)
	// 20,000/s closing first keep up to 20,000 young TIME_WAIT sockets
	// (tcp_tw_reuse 2 reuses loopback ports after 1 s): the scratch
	// namespace gets the whole range.
	ns.SetSysctl(b, "net.ipv4.ip_local_port_range", "1024 65535")
	const round = 4 * time.Second
	for b.Loop() {
		var off, on []loadRun
		for range 3 {
			off = append(off, dialLoad(b, ns, loadBin, eventsRate, round))
			tr, err := connevents.Open()
			if err != nil {
				b.Fatalf("events program: %v", err)
			}
			ledger := connevents.NewLedger(tr)
			done := make(chan struct{})
			go func() {
				// Drained every second, as the agent does.
				for t := time.NewTicker(time.Second); ; {
					select {
					case <-done:
						t.Stop()
						return
					case <-t.C:
						ledger.NetnsTotals(time.Now())
					}
				}
			}()
			on = append(on, dialLoad(b, ns, loadBin, eventsRate, round))
			close(done)
			tr.Close()
		}
		offMed, onMed := median(off), median(on)
		overhead := float64(onMed.cpuPerConn()-offMed.cpuPerConn()) / float64(offMed.cpuPerConn())
		b.ReportMetric(float64(offMed.ok)/round.Seconds(), "conn/s-without")
		b.ReportMetric(float64(onMed.ok)/round.Seconds(), "conn/s-with")
		b.ReportMetric(float64(offMed.cpuPerConn().Nanoseconds())/1000, "load-cpu-us/conn-without")
		b.ReportMetric(float64(onMed.cpuPerConn().Nanoseconds())/1000, "load-cpu-us/conn-with")
		b.ReportMetric(overhead*100, "overhead-%")
		if overhead > maxEventsOverhead {
			b.Errorf("the events program costs %.1f%% CPU per connection at %d/s (bar %.0f%%; figures noisy on a shared machine): without %v, with %v",
				overhead*100, eventsRate, maxEventsOverhead*100, off, on)
		}

		// The agent under the same load: its CPU per second of wall.
		agent := ns.Command(b.Context(), advisorBin, "run", "--interval", "1s", "--state-dir", b.TempDir())
		if err := agent.Start(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Second)
		before, start := procCPU(b, agent.Process.Pid), time.Now()
		dialLoad(b, ns, loadBin, eventsRate, round)
		used := procCPU(b, agent.Process.Pid) - before
		wall := time.Since(start)
		agent.Process.Signal(syscall.SIGTERM)
		agent.Wait()
		b.ReportMetric(100*used.Seconds()/wall.Seconds(), "agent-cpu-%")
	}
}

// median returns the run with the median CPU per connection.
func median(runs []loadRun) loadRun {
	s := slices.Clone(runs)
	slices.SortFunc(s, func(a, b loadRun) int { return int(a.cpuPerConn() - b.cpuPerConn()) })
	return s[len(s)/2]
}

