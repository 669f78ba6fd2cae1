// Package bench measures tcp-advisor on large socket tables, in one run:
// `tcp-advisor diagnose --format json`, the floor (one raw sock_diag dump
// that only counts messages, internal/cmd/diagfloor) and `ss -tan`, at
// 150,000 and 600,000 TIME_WAIT sockets in a scratch network namespace
// with a hash table of its own. Run it with `make bench` (root needed).
package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// The bars diagnose must clear at every size.
const (
	maxFloorRatio = 1.5
	maxPeakMiB    = 25
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// measurement is one command's median wall time and largest peak RSS.
type measurement struct {
	wall   time.Duration
	rssKiB int64
}

func (m measurement) ms() float64  { return float64(m.wall.Microseconds()) / 1000 }
func (m measurement) mib() float64 { return float64(m.rssKiB) / 1024 }

// runner runs a command in some network namespace: a *netnstest.NS, or
// host.
type runner interface {
	MustRun(t testing.TB, name string, args ...string) string
}

// measureOnce runs a command inside ns through the measure helper (see
// internal/cmd/measure for why), with its output discarded.
func measureOnce(b *testing.B, ns runner, measureBin, name string, args ...string) (time.Duration, int64) {
	b.Helper()
	out := ns.MustRun(b, measureBin, append([]string{name}, args...)...)
	var m struct {
		WallNS    int64 `json:"wall_ns"`
		MaxRSSKiB int64 `json:"maxrss_kib"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		b.Fatalf("measure %s: %v: %q", name, err, out)
	}
	return time.Duration(m.WallNS), m.MaxRSSKiB
}

// command is one of the commands compared.
type command struct {
	label string
	argv  []string
}

// measureAll runs the commands in turn, runs times, so that each sees the
// same table and the same machine load, and returns their medians.
func measureAll(b *testing.B, ns runner, measureBin string, runs int, cmds []command) []measurement {
	walls := make([][]time.Duration, len(cmds))
	out := make([]measurement, len(cmds))
	for range runs {
		for i, c := range cmds {
			w, rss := measureOnce(b, ns, measureBin, c.argv[0], c.argv[1:]...)
			walls[i] = append(walls[i], w)
			out[i].rssKiB = max(out[i].rssKiB, rss)
		}
	}
	for i := range cmds {
		slices.Sort(walls[i])
		out[i].wall = walls[i][len(walls[i])/2]
	}
	return out
}

// BenchmarkDiagnoseVersusFloorAndSS fills a namespace with TIME_WAIT
// sockets spread over enough destinations that ports suffice (15,000 per
// destination), then times diagnose, the floor and ss alternately on the
// same table. TIME_WAIT lasts 60 s: the table is filled in well under
// that and measured at once, and counted again afterwards.
func BenchmarkDiagnoseVersusFloorAndSS(b *testing.B) {
	netnstest.Require(b)
	advisorBin := testbin.Build(b, "cmd/tcp-advisor")
	loadBin := testbin.Build(b, "internal/cmd/tcpload")
	measureBin := testbin.Build(b, "internal/cmd/measure")
	floorBin := testbin.Build(b, "internal/cmd/diagfloor")
	for _, size := range []struct {
		sockets, runs int
	}{{150000, 5}, {600000, 3}} {
		b.Run(strconv.Itoa(size.sockets), func(b *testing.B) {
			ns := netnstest.NewIsolated(b, 1<<20)
			ns.SetSysctl(b, "net.ipv4.ip_local_port_range", "1024 65535")
			ns.SetSysctl(b, "net.ipv4.tcp_max_tw_buckets", "2000000")
			// The default tcp_tw_reuse=2 lets loopback connect() recycle
			// TIME_WAIT ports, which would keep the table from filling.
			ns.SetSysctl(b, "net.ipv4.tcp_tw_reuse", "0")
			dests := size.sockets / 15000
			addrs := make([]string, dests)
			for i := range addrs {
				// Servers below the ephemeral range: TIME_WAIT sockets
				// may hold any port inside it.
				addrs[i] = fmt.Sprintf("127.0.0.1:%d", 100+i)
			}
			for b.Loop() {
				start := time.Now()
				ns.MustRun(b, loadBin, "timewait", "-addr", strings.Join(addrs, ","), "-n", strconv.Itoa(size.sockets), "-conc", "512")
				fill := time.Since(start)
				before := count(b, ns, floorBin)
				m := measureAll(b, ns, measureBin, size.runs, []command{
					{"tcp-advisor diagnose --format json", []string{advisorBin, "diagnose", "--format", "json"}},
					{"floor: raw sock_diag dump, counting", []string{floorBin}},
					{"ss -tan", []string{"ss", "-tan"}},
				})
				after := count(b, ns, floorBin)
				diag, floor, ss := m[0], m[1], m[2]
				ratio := float64(diag.wall) / float64(floor.wall)
				b.ReportMetric(diag.ms(), "diagnose-ms")
				b.ReportMetric(floor.ms(), "floor-ms")
				b.ReportMetric(ss.ms(), "ss-ms")
				b.ReportMetric(ratio, "diagnose/floor")
				b.ReportMetric(diag.mib(), "diagnose-peak-MiB")
				b.Logf("%d sockets (%d after measuring) over %d destinations, filled in %s; median of %d runs:",
					before, after, dests, fill.Round(time.Millisecond), size.runs)
				b.Logf("  tcp-advisor diagnose --format json: %8.1f ms, peak RSS %5.1f MiB", diag.ms(), diag.mib())
				b.Logf("  floor (raw dump, counting):         %8.1f ms, peak RSS %5.1f MiB", floor.ms(), floor.mib())
				b.Logf("  ss -tan:                            %8.1f ms, peak RSS %5.1f MiB", ss.ms(), ss.mib())
				b.Logf("  diagnose/floor %.2f, diagnose/ss %.2f", ratio, float64(diag.wall)/float64(ss.wall))
				if after < size.sockets*95/100 {
					b.Errorf("only %d sockets left after measuring: TIME_WAIT expired during the run", after)
				}
				if ratio > maxFloorRatio {
					b.Errorf("diagnose takes %.2f× the floor, more than %.1f×", ratio, maxFloorRatio)
				}
				if diag.mib() > maxPeakMiB {
					b.Errorf("diagnose peak RSS %.1f MiB, over %d MiB", diag.mib(), maxPeakMiB)
				}
			}
		})
	}
}

// count is the number of sockets in ns, as the floor counts them.
func count(b *testing.B, ns *netnstest.NS, floorBin string) int {
	b.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(ns.MustRun(b, floorBin)))
	if err != nil {
		b.Fatal(err)
	}
	return n
}
