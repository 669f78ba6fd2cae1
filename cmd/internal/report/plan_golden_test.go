package report_test

import (
	"bytes"
	"flag"

	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/cmd/internal/report"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// scenario builds a two-sample window, ten seconds apart.
type scenario struct {
	name  string
	build func(first, last *advisor.Snapshot)
}

func baseSnapshot(at time.Time) advisor.Snapshot {
	return advisor.Snapshot{
		Time: at,
		Sysctls: advisor.MustSysctls(map[string]string{
			"net.ipv4.ip_local_port_range": "40000 40999", "net.ipv4.ip_local_reserved_ports": "",
			"net.ipv4.ip_unprivileged_port_start": "1024", "net.ipv4.tcp_tw_reuse": "0",
			"net.ipv4.tcp_tw_reuse_delay": "1000",
			"net.ipv4.tcp_fin_timeout":    "60", "net.ipv4.tcp_max_tw_buckets": "131072",
			"net.core.somaxconn": "4096", "net.ipv4.tcp_max_syn_backlog": "4096",
			"net.ipv4.tcp_syncookies": "1", "net.ipv4.tcp_timestamps": "1",
		}),
		Sockets: &advisor.SocketSummary{Dumped: advisor.StatesOf(advisor.AllStates()...), PerDestination: map[advisor.DestKey]advisor.DestCount{}},
	}
}

func listen(s *advisor.Snapshot, ports ...uint16) {
	for _, p := range ports {
		s.Sockets.Listeners = append(s.Sockets.Listeners, advisor.DetailedSocket{
			ID: advisor.SocketID{Local: netip.AddrPortFrom(netip.MustParseAddr("0.0.0.0"), p)}, State: advisor.Listen,
			Owner: &advisor.Owner{PID: 100, Command: "haproxy", Unit: "haproxy.service"},
		})
	}
	s.Sockets.States[advisor.Listen] = len(s.Sockets.Listeners)
}

// timeWaitTo puts n TIME_WAIT sockets towards remote, the youngest of them
// entered at rate per second (none yet expiring).
func timeWaitTo(s *advisor.Snapshot, remote string, n int, rate float64) {
	k := advisor.DestKey{Local: netip.MustParseAddr("10.0.0.1"), Remote: netip.MustParseAddrPort(remote)}
	recent := int(rate * advisor.RateWindow.Seconds())
	s.Sockets.PerDestination[k] = advisor.DestCount{InUse: n, TimeWait: n, TimeWaitRecent: recent, TimeWaitYoung: int(rate)}
	s.Sockets.States[advisor.TimeWait] += n
	s.Sockets.Ephemeral[advisor.TimeWait] += n
	s.Counters.TimeWait += n
}

func closeWait(s *advisor.Snapshot, n int) {
	for i := range n {
		s.Sockets.CloseWait = append(s.Sockets.CloseWait, advisor.DetailedSocket{
			ID: advisor.SocketID{
				Local:  netip.MustParseAddrPort("10.0.0.1:8443"),
				Remote: netip.AddrPortFrom(netip.MustParseAddr("10.0.9.9"), uint16(50000+i)),
				Cookie: uint64(i + 1),
			},
			State: advisor.CloseWait, Inode: uint32(1000 + i),
			Owner: &advisor.Owner{PID: 4242, Command: "api-server", Unit: "api.service"},
		})
	}
	s.Sockets.States[advisor.CloseWait] = n
	s.Counters.TCPInUse += n
}

var scenarios = []scenario{
	{"idle", func(first, last *advisor.Snapshot) {
		listen(first, 22, 8080)
		listen(last, 22, 8080)
	}},
	{"exhaustion", func(first, last *advisor.Snapshot) {
		for _, s := range []*advisor.Snapshot{first, last} {
			listen(s, 22, 8080, 39500, 45000)
			s.Sockets.UDPPorts = advisor.PortSet{}.Add(53, 41000)
			timeWaitTo(s, "10.0.0.3:5432", 40, 1)
		}
		timeWaitTo(first, "10.0.0.2:80", 600, 30)
		timeWaitTo(last, "10.0.0.2:80", 900, 30)
		first.Counters.ActiveOpens, last.Counters.ActiveOpens = 10000, 13000
	}},
	{"close-wait-leak", func(first, last *advisor.Snapshot) {
		closeWait(first, 120)
		closeWait(last, 150)
	}},
	{"time-wait-overflow", func(first, last *advisor.Snapshot) {
		for _, s := range []*advisor.Snapshot{first, last} {
			s.Sysctls = s.Sysctls.With(advisor.KeyPortRange, "1024 65535")
			s.Counters.TimeWait = 131072
			s.Sockets.States[advisor.TimeWait] = 131072
		}
		first.Counters.TimeWaitOverflow, last.Counters.TimeWaitOverflow = 1000, 1250
	}},
	{"fin-wait2-orphans", func(first, last *advisor.Snapshot) {
		for _, s := range []*advisor.Snapshot{first, last} {
			s.Sockets.States[advisor.FinWait2] = 2400
			s.Sockets.OrphanFinWait2 = 2400
			s.Counters.Orphan = 10
		}
	}},
}

// TestPlanGolden runs the embedded default policies over fixture windows
// and compares the plan, as text and JSON, with testdata/golden.
func TestPlanGolden(t *testing.T) {
	set := policies.Default()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			first, last := baseSnapshot(t0), baseSnapshot(t0.Add(10*time.Second))
			sc.build(&first, &last)
			window := []advisor.Snapshot{first, last}
			recs, diags := set.Evaluate(last, advisor.Analyze(window))
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			plan := remediate.Planner{Set: set, Now: last.Time}.Build(last, recs)
			var text, js bytes.Buffer
			if err := report.WritePlanText(&text, plan, report.TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := report.WritePlanJSON(&js, plan); err != nil {
				t.Fatal(err)
			}
			golden(t, sc.name+".txt", text.Bytes())
			golden(t, sc.name+".json", js.Bytes())
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/internal/report -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
