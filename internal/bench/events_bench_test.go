package bench

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

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
	loadWorkers       = 4
	maxEventsOverhead = 0.03
)

// loadRun is one fixed-rate connect load: the connections made and the CPU
// time this process (clients and server) used meanwhile.
type loadRun struct {
	ok  int
	cpu time.Duration
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadCPU is this process's CPU time so far plus the ksoftirqd threads':
// the loopback packets' receive work (softirq) runs in the sending
// thread's system call, or, when softirqs pile up, in ksoftirqd, whose
// share moves with the machine's other load.
func loadCPU(b *testing.B) time.Duration {
	b.Helper()
	cpu := selfCPU(b)
	threads, err := filepath.Glob("/proc/[0-9]*/comm")
	if err != nil {
		b.Fatal(err)
	}
	for _, comm := range threads {
		if name, err := os.ReadFile(comm); err != nil || !strings.HasPrefix(string(name), "ksoftirqd/") {
			continue
		}
		// schedstat: time on the CPU in ns, time waiting, slices.
		st, err := os.ReadFile(filepath.Join(filepath.Dir(comm), "schedstat"))
		if err != nil {
			continue
		}
		ns, _ := strconv.ParseInt(strings.Fields(string(st))[0], 10, 64)
		cpu += time.Duration(ns)
	}
	return cpu
}

// inNetns locks the calling goroutine to its thread and moves the thread
// into ns; the thread ends with the goroutine.
func inNetns(ns netns.NsHandle) error {
	runtime.LockOSThread()
	return netns.Set(ns)
}

// connectLoad makes connections to 127.0.0.1:9000 inside ns at rate per
// second for d, from workers threads with plain system calls (socket,
// connect, close: the least CPU a connection can cost, so the program's
// share shows), against a listener that accepts and closes each. It
// returns the connections made and the CPU this process used.
func connectLoad(b *testing.B, ns netns.NsHandle, rate, workers int, d time.Duration) loadRun {
	b.Helper()
	lfd := make(chan int, 1)
	go func() {
		if err := inNetns(ns); err != nil {
			b.Error(err)
			lfd <- -1
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err == nil {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			if err = unix.Bind(fd, &unix.SockaddrInet4{Port: 9000, Addr: [4]byte{127, 0, 0, 1}}); err == nil {
				err = unix.Listen(fd, 4096)
			}
		}
		if err != nil {
			b.Error(err)
			fd = -1
		}
		lfd <- fd
	}()
	listener := <-lfd
	if listener < 0 {
		b.FailNow()
	}
	var accepted sync.WaitGroup
	accepted.Add(1)
	go func() {
		defer accepted.Done()
		for {
			c, _, err := unix.Accept4(listener, unix.SOCK_CLOEXEC)
			if err != nil {
				return
			}
			unix.Close(c)
		}
	}()
	var made atomic.Int64
	var wg sync.WaitGroup
	cpu0 := loadCPU(b)
	start := time.Now()
	interval := time.Second * time.Duration(workers) / time.Duration(rate)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := inNetns(ns); err != nil {
				b.Error(err)
				return
			}
			next := start.Add(interval * time.Duration(w) / time.Duration(workers))
			for time.Since(start) < d {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					b.Error(err)
					return
				}
				if err := unix.Connect(fd, &unix.SockaddrInet4{Port: 9000, Addr: [4]byte{127, 0, 0, 1}}); err == nil {
					made.Add(1)
				}
				unix.Close(fd)
				next = next.Add(interval)
				if wait := time.Until(next); wait > 0 {
					time.Sleep(wait)
				}
			}
		}()
	}
	wg.Wait()
	r := loadRun{ok: int(made.Load()), cpu: loadCPU(b) - cpu0}
	unix.Shutdown(listener, unix.SHUT_RDWR)
	unix.Close(listener)
	accepted.Wait()
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

// The rounds of BenchmarkConnectEvents: quads of rounds, without, with,
// with and without the program, so that a cost drifting over the run (the
// listener's TIME_WAIT sockets pile up) and whatever else the machine does
// meanwhile weigh on both sides of a quad alike.
const (
	eventsQuads = 100
	eventsRound = 200 * time.Millisecond
)

// BenchmarkConnectEvents measures what the connection-events program
// costs: a loopback load of 20,000 connections/s (4 threads of socket,
// connect, close) in a scratch namespace, without and with the program
// attached (and its maps drained after each round), in 100 quads of 0.2 s
// rounds: the program is loaded once, and attached for the rounds with
// it. Each quad gives the ratio of the CPU time per connection (this
// process's and ksoftirqd's) with the program to that without; the
// overhead is the median ratio. Then one more round with the kernel's BPF statistics on
// gives the program's own run time per connection beside that of an empty
// program on the same tracepoint (the statistics' own clock reads), which
// other load on the machine moves far less; the benchmark fails when
// either share is above 3 %. Last, the agent's own CPU while it ticks
// every second under the same load.
func BenchmarkConnectEvents(b *testing.B) {
	netnstest.Require(b)
	advisorBin := testbin.Build(b, "cmd/tcp-advisor")
	ns := netnstest.New(b)
	// The listener closes first, so its side keeps the TIME_WAIT; the
	// clients' ports come back at once. The scratch namespace gets the
	// whole range all the same.
	ns.SetSysctl(b, "net.ipv4.ip_local_port_range", "1024 65535")
	handle, err := netns.GetFromName(ns.Name)
	if err != nil {
		b.Fatal(err)
	}
	defer handle.Close()
	for b.Loop() {
		// One program, loaded once, attached for the rounds with it.
		tr, err := connevents.Open()
		if err != nil {
			b.Fatalf("events program: %v", err)
		}
		if err := tr.Detach(); err != nil {
			b.Fatal(err)
		}
		var off, on []loadRun
		for range eventsQuads {
			off = append(off, connectLoad(b, handle, eventsRate, loadWorkers, eventsRound))
			on = append(on, tracedLoad(b, tr, handle, eventsRound), tracedLoad(b, tr, handle, eventsRound))
			off = append(off, connectLoad(b, handle, eventsRate, loadWorkers, eventsRound))
		}
		tr.Close()
		ratios := make([]float64, eventsQuads)
		for i := range ratios {
			ratios[i] = cpuPerConn(on[2*i:2*i+2])/cpuPerConn(off[2*i:2*i+2]) - 1
		}
		b.Logf("CPU per connection (µs), without: %s; with: %s", micros(off), micros(on))
		b.Logf("overhead per quad (%%): %s", percents(ratios))
		overhead := medianOf(ratios)
		progNs, runs, emptyNs := programTime(b, handle)
		progShare := (progNs - emptyNs) / 1000 / cpuPerConn(off)
		b.Logf("the program's own time: %.0f ns in %.1f runs per connection (an empty program's: %.0f ns), the difference %.2f%% of the CPU per connection without it",
			progNs, runs, emptyNs, 100*progShare)
		b.ReportMetric(connRate(off), "conn/s-without")
		b.ReportMetric(connRate(on), "conn/s-with")
		b.ReportMetric(cpuPerConn(off), "load-cpu-us/conn-without")
		b.ReportMetric(cpuPerConn(on), "load-cpu-us/conn-with")
		b.ReportMetric(overhead*100, "overhead-%")
		b.ReportMetric(progNs, "program-ns/conn")
		b.ReportMetric(emptyNs, "empty-program-ns/conn")
		b.ReportMetric(100*progShare, "program-%")
		if overhead > maxEventsOverhead || progShare > maxEventsOverhead {
			b.Errorf("the events program costs %.1f%% CPU per connection at %d/s (median of %d quads; figures noisy on a shared machine), its own run time beyond an empty program's %.1f%%; bar %.0f%%",
				overhead*100, eventsRate, eventsQuads, 100*progShare, maxEventsOverhead*100)
		}

		// The agent under the same load: its CPU per second of wall.
		agent := ns.Command(b.Context(), advisorBin, "run", "--interval", "1s", "--state-dir", b.TempDir())
		if err := agent.Start(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Second)
		before, start := procCPU(b, agent.Process.Pid), time.Now()
		connectLoad(b, handle, eventsRate, loadWorkers, 4*time.Second)
		used := procCPU(b, agent.Process.Pid) - before
		wall := time.Since(start)
		agent.Process.Signal(syscall.SIGTERM)
		agent.Wait()
		b.ReportMetric(100*used.Seconds()/wall.Seconds(), "agent-cpu-%")
	}
}

// tracedLoad runs the connect load for d with the events program attached,
// then detaches it and drains its maps, as the agent does each sample.
func tracedLoad(b *testing.B, tr *connevents.Tracer, ns netns.NsHandle, d time.Duration) loadRun {
	b.Helper()
	if err := tr.Attach(); err != nil {
		b.Fatalf("events program: %v", err)
	}
	r := connectLoad(b, ns, eventsRate, loadWorkers, d)
	if err := tr.Detach(); err != nil {
		b.Fatal(err)
	}
	if _, err := tr.Drain(); err != nil {
		b.Fatal(err)
	}
	return r
}

// cpuPerConn is the CPU time per connection over runs, in µs.
func cpuPerConn(runs []loadRun) float64 {
	var cpu time.Duration
	var ok int
	for _, r := range runs {
		cpu += r.cpu
		ok += r.ok
	}
	return float64(cpu.Nanoseconds()) / 1000 / float64(max(ok, 1))
}

// connRate is the median rate of connections made in runs of eventsRound.
func connRate(runs []loadRun) float64 {
	rates := make([]float64, len(runs))
	for i, r := range runs {
		rates[i] = float64(r.ok) / eventsRound.Seconds()
	}
	return medianOf(rates)
}

// micros formats each run's CPU time per connection in µs.
func micros(runs []loadRun) string {
	parts := make([]string, len(runs))
	for i := range runs {
		parts[i] = strconv.FormatFloat(cpuPerConn(runs[i:i+1]), 'f', 1, 64)
	}
	return strings.Join(parts, " ")
}

// programTime runs the load once more with the events program attached,
// beside a program that returns at once on the same tracepoint, and the
// kernel's BPF run-time statistics enabled (while this process holds them:
// they cost every BPF program on the host a clock read, so only here, not
// in the rounds compared). It returns the events program's own time and
// runs per connection made, and the empty program's time: the part of the
// first that is the statistics' own clock reads.
func programTime(b *testing.B, ns netns.NsHandle) (nsPerConn, runsPerConn, emptyNsPerConn float64) {
	b.Helper()
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		b.Fatalf("BPF statistics: %v", err)
	}
	defer stats.Close()
	tr, err := connevents.Open()
	if err != nil {
		b.Fatalf("events program: %v", err)
	}
	defer tr.Close()
	empty, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "empty",
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceRawTp,
		AttachTo:     "inet_sock_set_state",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		License:      "GPL",
	})
	if err != nil {
		b.Fatalf("empty program: %v", err)
	}
	defer empty.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: empty, AttachType: ebpf.AttachTraceRawTp})
	if err != nil {
		b.Fatalf("empty program: %v", err)
	}
	defer l.Close()
	r := connectLoad(b, ns, eventsRate, loadWorkers, time.Second)
	spent, runs, err := tr.RunStats()
	if err != nil {
		b.Fatal(err)
	}
	floor, err := empty.Stats()
	if err != nil {
		b.Fatal(err)
	}
	if runs == 0 || r.ok == 0 {
		b.Fatalf("the program ran %d times for %d connections", runs, r.ok)
	}
	perConn := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(r.ok) }
	return perConn(spent), float64(runs) / float64(r.ok), perConn(floor.Runtime)
}

// medianOf returns the median of xs.
func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percents formats ratios as percentages, one decimal each.
func percents(ratios []float64) string {
	parts := make([]string, len(ratios))
	for i, r := range ratios {
		parts[i] = strconv.FormatFloat(r*100, 'f', 1, 64)
	}
	return strings.Join(parts, " ")
}
