package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// The bars `diagnose --all-namespaces` must clear: beside one busy
// namespace, idle ones cost at most half the busy one's diagnose, and 100
// idle namespaces take under half a second.
const (
	maxAllOverBusy = 1.5
	maxIdleAll     = 500 * time.Millisecond
)

// host runs commands in the benchmark's own network namespace, the host's.
type host struct{}

// MustRun runs a command and returns its standard output.
func (host) MustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

// BenchmarkAllNamespacesBusyAndIdle puts 150,000 TIME_WAIT sockets in one
// namespace that shares the host's established hash, as a container's
// does, beside 50 idle namespaces, and times `diagnose --format json` in
// the busy namespace alone against `diagnose --all-namespaces --format
// json` from the host, in turn on the same table. A sock_diag dump in any
// namespace walks the whole shared hash, so every namespace dumped costs
// about as much as the busy one's own dump.
func BenchmarkAllNamespacesBusyAndIdle(b *testing.B) {
	netnstest.Require(b)
	advisorBin := testbin.Build(b, "cmd/tcp-advisor")
	loadBin := testbin.Build(b, "internal/cmd/tcpload")
	measureBin := testbin.Build(b, "internal/cmd/measure")
	floorBin := testbin.Build(b, "internal/cmd/diagfloor")
	busy := netnstest.New(b)
	busy.SetSysctl(b, "net.ipv4.ip_local_port_range", "1024 65535")
	busy.SetSysctl(b, "net.ipv4.tcp_max_tw_buckets", "2000000")
	busy.SetSysctl(b, "net.ipv4.tcp_tw_reuse", "0")
	for range 50 {
		netnstest.New(b)
	}
	const sockets = 150000
	addrs := make([]string, sockets/15000)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", 100+i)
	}
	for b.Loop() {
		busy.MustRun(b, loadBin, "timewait", "-addr", strings.Join(addrs, ","), "-n", strconv.Itoa(sockets), "-conc", "512")
		before := count(b, busy, floorBin)
		const runs = 3
		alone := measureAll(b, busy, measureBin, runs, []command{
			{"diagnose in the busy namespace", []string{advisorBin, "diagnose", "--format", "json"}},
		})[0]
		all := measureAll(b, host{}, measureBin, runs, []command{
			{"diagnose --all-namespaces", []string{advisorBin, "diagnose", "--all-namespaces", "--format", "json"}},
		})[0]
		after := count(b, busy, floorBin)
		ratio := float64(all.wall) / float64(alone.wall)
		b.ReportMetric(alone.ms(), "busy-alone-ms")
		b.ReportMetric(all.ms(), "all-namespaces-ms")
		b.ReportMetric(ratio, "all/busy")
		b.Logf("%d TIME_WAIT sockets (%d after measuring) in one namespace beside 50 idle ones; median of %d runs:", before, after, runs)
		b.Logf("  diagnose --format json in the busy namespace: %8.1f ms", alone.ms())
		b.Logf("  diagnose --all-namespaces --format json:      %8.1f ms (%.2f×)", all.ms(), ratio)
		if after < sockets*95/100 {
			b.Errorf("only %d sockets left after measuring: TIME_WAIT expired during the run", after)
		}
		// Each namespace dumped walks the shared table once: on a machine
		// shared with other work, the busy namespaces others made are
		// dumped too, and each adds one walk to the bar.
		others := dumpedOthers(b, advisorBin, busy.Name)
		bar := maxAllOverBusy + float64(len(others))
		if len(others) > 0 {
			b.Logf("  %d namespaces this benchmark did not make were dumped too (%s): bar %.1f×",
				len(others), strings.Join(others, ", "), bar)
		}
		if ratio > bar {
			b.Errorf("diagnose --all-namespaces takes %.2f× diagnose in the busy namespace alone, more than %.1f×", ratio, bar)
		}
	}
}

// dumpedOthers runs `diagnose --all-namespaces` once more and returns the
// namespaces it dumped other than those named mine: on a machine shared
// with other work, a busy namespace someone else made is dumped too, and
// its dump walks the same shared table.
func dumpedOthers(b *testing.B, advisorBin string, mine ...string) []string {
	b.Helper()
	var out struct {
		Namespaces []struct {
			Netns struct {
				Inode uint64 `json:"inode"`
				Name  string `json:"name"`
			} `json:"netns"`
			Precheck struct {
				Dumped bool `json:"dumped"`
			} `json:"precheck"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(host{}.MustRun(b, advisorBin, "diagnose", "--all-namespaces", "--format", "json")), &out); err != nil {
		b.Fatal(err)
	}
	var others []string
	for _, n := range out.Namespaces {
		if n.Precheck.Dumped && !slices.Contains(mine, n.Netns.Name) {
			others = append(others, cmp.Or(n.Netns.Name, fmt.Sprintf("net:[%d]", n.Netns.Inode)))
		}
	}
	return others
}

// BenchmarkAllNamespacesIdle times `diagnose --all-namespaces --format
// json` from the host with 100 idle scratch namespaces besides whatever
// else the host has.
func BenchmarkAllNamespacesIdle(b *testing.B) {
	netnstest.Require(b)
	advisorBin := testbin.Build(b, "cmd/tcp-advisor")
	measureBin := testbin.Build(b, "internal/cmd/measure")
	for range 100 {
		netnstest.New(b)
	}
	for b.Loop() {
		const runs = 5
		all := measureAll(b, host{}, measureBin, runs, []command{
			{"diagnose --all-namespaces", []string{advisorBin, "diagnose", "--all-namespaces", "--format", "json"}},
		})[0]
		b.ReportMetric(all.ms(), "all-namespaces-ms")
		b.Logf("diagnose --all-namespaces --format json with 100 idle namespaces: %.1f ms (median of %d runs)", all.ms(), runs)
		if others := dumpedOthers(b, advisorBin); len(others) > 0 {
			b.Logf("  %d namespaces this benchmark did not make were dumped (%s)", len(others), strings.Join(others, ", "))
		}
		if all.wall > maxIdleAll {
			b.Errorf("diagnose --all-namespaces takes %s with 100 idle namespaces, more than %s", all.wall.Round(time.Millisecond), maxIdleAll)
		}
	}
}
