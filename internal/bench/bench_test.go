// Package bench measures tcp-advisor against ss on a large socket table, in
// the same run: 150,000 TIME_WAIT sockets in a scratch network namespace.
// Run it with `make bench` (root needed).
package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

const (
	timeWaitSockets = 150000
	destinations    = 6
	runs            = 5
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

// measure runs a command inside ns, runs times, through the measure helper
// (see internal/cmd/measure for why), with its output discarded.
func measure(b *testing.B, ns *netnstest.NS, measureBin, name string, args ...string) measurement {
	b.Helper()
	var walls []time.Duration
	var rss int64
	for range runs {
		out := ns.MustRun(b, measureBin, append([]string{name}, args...)...)
		var m struct {
			WallNS    int64 `json:"wall_ns"`
			MaxRSSKiB int64 `json:"maxrss_kib"`
		}
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			b.Fatalf("measure %s: %v: %q", name, err, out)
		}
		walls = append(walls, time.Duration(m.WallNS))
		rss = max(rss, m.MaxRSSKiB)
	}
	slices.Sort(walls)
	return measurement{wall: walls[len(walls)/2], rssKiB: rss}
}

// BenchmarkDiagnoseVersusSS fills a namespace with 150,000 TIME_WAIT sockets
// spread over six destinations, then times `tcp-advisor diagnose --format
// json` and `ss -tan` alternately on the same table.
func BenchmarkDiagnoseVersusSS(b *testing.B) {
	netnstest.Require(b)
	advisorBin := testbin.Build(b, "cmd/tcp-advisor")
	loadBin := testbin.Build(b, "internal/cmd/tcpload")
	measureBin := testbin.Build(b, "internal/cmd/measure")
	ns := netnstest.New(b)
	ns.SetSysctl(b, "net.ipv4.ip_local_port_range", "1024 65535")
	ns.SetSysctl(b, "net.ipv4.tcp_max_tw_buckets", "262144")
	// The default tcp_tw_reuse=2 lets loopback connect() recycle TIME_WAIT
	// ports, which would keep the table from filling.
	ns.SetSysctl(b, "net.ipv4.tcp_tw_reuse", "0")
	addrs := make([]string, destinations)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", 9000+i)
	}
	start := time.Now()
	ns.MustRun(b, loadBin, "timewait", "-addr", strings.Join(addrs, ","), "-n", fmt.Sprint(timeWaitSockets), "-conc", "512")
	fill := time.Since(start)
	tw := strings.Count(ns.MustRun(b, "ss", "-tanH", "state", "time-wait"), "\n")
	// TIME_WAIT lasts 60 s: measure while the table is full.
	if tw < timeWaitSockets*95/100 {
		b.Fatalf("only %d TIME_WAIT sockets after %s", tw, fill)
	}

	for b.Loop() {
		diag := measure(b, ns, measureBin, advisorBin, "diagnose", "--format", "json")
		ss := measure(b, ns, measureBin, "ss", "-tan")
		b.ReportMetric(float64(diag.wall.Microseconds())/1000, "diagnose-ms")
		b.ReportMetric(float64(ss.wall.Microseconds())/1000, "ss-ms")
		b.ReportMetric(float64(diag.wall)/float64(ss.wall), "diagnose/ss")
		b.ReportMetric(float64(diag.rssKiB)/1024, "diagnose-peak-MiB")
		b.ReportMetric(float64(ss.rssKiB)/1024, "ss-peak-MiB")
		b.Logf("%d TIME_WAIT sockets over %d destinations (filled in %s); median of %d runs:", tw, destinations, fill.Round(time.Millisecond), runs)
		b.Logf("  tcp-advisor diagnose --format json: %8.1f ms, peak RSS %5.1f MiB", float64(diag.wall.Microseconds())/1000, float64(diag.rssKiB)/1024)
		b.Logf("  ss -tan:                            %8.1f ms, peak RSS %5.1f MiB", float64(ss.wall.Microseconds())/1000, float64(ss.rssKiB)/1024)
		b.Logf("  ratio diagnose/ss: %.2f", float64(diag.wall)/float64(ss.wall))
	}
}
