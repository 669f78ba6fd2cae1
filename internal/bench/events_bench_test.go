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

func (r loadRun) cpuPerConn() time.Duration {
	if r.ok == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.ok)
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
	cpu0 := selfCPU(b)
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
	r := loadRun{ok: int(made.Load()), cpu: selfCPU(b) - cpu0}
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

// BenchmarkConnectEvents measures what the connection-events program
// costs: a loopback load of 20,000 connections/s (4 threads of socket,
// connect, close) in a scratch namespace, alternately without and with the
// program attached (and drained every second), 3 rounds of 4 s, comparing
// the connections made and the CPU time per connection (medians); then the
// agent's own CPU while it ticks every second under the same load.
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
	const round = 4 * time.Second
	for b.Loop() {
		var off, on []loadRun
		for range 3 {
			off = append(off, connectLoad(b, handle, eventsRate, loadWorkers, round))
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
			on = append(on, connectLoad(b, handle, eventsRate, loadWorkers, round))
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
		connectLoad(b, handle, eventsRate, loadWorkers, round)
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
