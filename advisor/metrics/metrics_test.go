package metrics

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// sysctls is a host with a 1000-port range, 1 port of it reserved.
func sysctls() advisor.Sysctls {
	sc, err := advisor.NewSysctls(map[string]string{
		"net.ipv4.ip_local_port_range":        "40000 40999",
		"net.ipv4.ip_local_reserved_ports":    "40500",
		"net.ipv4.ip_unprivileged_port_start": "1024",
		"net.ipv4.tcp_tw_reuse":               "2",
		"net.ipv4.tcp_fin_timeout":            "60",
		"net.ipv4.tcp_max_tw_buckets":         "262144",
		"net.core.somaxconn":                  "4096",
	})
	if err != nil {
		panic(err)
	}
	return sc
}

// busyHost returns two snapshots ten seconds apart with a full socket dump:
// dests destinations, the i-th (from 0) holding 10*(i+1) ports in
// TIME_WAIT; CLOSE_WAIT sockets held by three processes, two of them one
// command in one unit, and one socket without an owner.
func busyHost(dests int) []advisor.Snapshot {
	var window []advisor.Snapshot
	for i, at := range []time.Time{t0, t0.Add(10 * time.Second)} {
		sum := &advisor.SocketSummary{Dumped: advisor.StatesOf(advisor.AllStates()...), PerDestination: map[advisor.DestKey]advisor.DestCount{}}
		tw := 0
		for d := range dests {
			k := advisor.DestKey{Local: netip.MustParseAddr("10.0.0.1"), Remote: netip.AddrPortFrom(netip.MustParseAddr("10.1.0.1"), uint16(8000+d))}
			n := 10 * (d + 1)
			// d of its sockets are orphaned FIN_WAIT2 timewait sockets,
			// which sockstat's tw counts with TIME_WAIT.
			sum.PerDestination[k] = advisor.DestCount{InUse: n, TimeWait: n - d, FinWait2Orphaned: d}
			sum.OrphanFinWait2 += d
			sum.OrphanFinWait2TW += d
			tw += n
		}
		owners := []*advisor.Owner{
			{PID: 100, Command: "api", Unit: "api.service"},
			{PID: 101, Command: "api", Unit: "api.service"},
			{PID: 200, Command: "worker", Unit: "worker.service"},
			nil,
		}
		for j := range 7 {
			sum.CloseWait = append(sum.CloseWait, advisor.DetailedSocket{
				ID:    advisor.SocketID{Local: netip.MustParseAddrPort("10.0.0.1:443"), Remote: netip.AddrPortFrom(netip.MustParseAddr("10.2.0.1"), uint16(50000+j)), Cookie: uint64(j + 1)},
				State: advisor.CloseWait,
				Owner: owners[j%len(owners)],
			})
		}
		sum.States[advisor.TimeWait] = tw - sum.OrphanFinWait2
		sum.States[advisor.FinWait2] = sum.OrphanFinWait2
		sum.Listeners = []advisor.DetailedSocket{{ID: advisor.SocketID{Local: netip.MustParseAddrPort("0.0.0.0:443")}, State: advisor.Listen, SendQ: 128, SynRecv: 129}}
		sum.States[advisor.CloseWait] = 7
		sum.States[advisor.Established] = 3
		sum.States[advisor.Listen] = 2
		sum.Ephemeral[advisor.TimeWait] = tw - sum.OrphanFinWait2
		window = append(window, advisor.Snapshot{
			Time:    at,
			Sysctls: sysctls(),
			Sockets: sum,
			Counters: advisor.Counters{TCPInUse: 12, TimeWait: tw, ActiveOpens: 1000 + float64(i)*500,
				TimeWaitOverflow: 3, ReqQFullDrop: 235, ReqQFullDoCookies: 4},
			Events: &advisor.ConnEvents{Since: at.Add(-10 * time.Second), Until: at,
				Totals: advisor.ConnTotals{Opens: 500, Failures: 7}},
		})
	}
	return window
}

// TestConnectEvents: connect_failures_total and opens_total add
// each tick's events; kernel_events_available says 1, or 0 with the reason
// once the events are unavailable, and the counters keep their totals.
func TestConnectEvents(t *testing.T) {
	m := New(Options{})
	tick(m, busyHost(1))
	tick(m, busyHost(1))
	refused := busyHost(1)
	last := &refused[len(refused)-1]
	last.Events, last.EventsUnavailable = nil, "kernel events unavailable: CAP_BPF and CAP_PERFMON missing"
	steps := []struct {
		window    []advisor.Snapshot
		failures  float64
		opens     float64
		available map[string]float64
	}{
		{nil, 14, 1000, map[string]float64{"{}": 1}},
		{refused, 14, 1000, map[string]float64{`{reason="kernel events unavailable: CAP_BPF and CAP_PERFMON missing"}`: 0}},
	}
	for i, st := range steps {
		if st.window != nil {
			tick(m, st.window)
		}
		got := gather(t, m)
		if f := series(got["tcp_advisor_connect_failures_total"])["{}"]; f != st.failures {
			t.Errorf("step %d: connect_failures_total %v, want %v", i, f, st.failures)
		}
		if a := series(got["tcp_advisor_opens_total"])["{}"]; a != st.opens {
			t.Errorf("step %d: opens_total %v, want %v", i, a, st.opens)
		}
		if av := series(got["tcp_advisor_kernel_events_available"]); !maps.Equal(av, st.available) {
			t.Errorf("step %d: kernel_events_available %v, want %v", i, av, st.available)
		}
	}
}

// TestEventsOverflow: kernel_events_overflow_total is 0 from the first
// scrape and follows the events program's host-wide count: several
// namespaces carrying the same count, or an older one, count it once.
func TestEventsOverflow(t *testing.T) {
	m := New(Options{})
	overflow := func() float64 {
		t.Helper()
		s := series(gather(t, m)["tcp_advisor_kernel_events_overflow_total"])
		v, ok := s["{}"]
		if !ok {
			t.Fatalf("no kernel_events_overflow_total series: %v", s)
		}
		return v
	}
	if v := overflow(); v != 0 {
		t.Fatalf("first scrape: %v, want 0", v)
	}
	steps := []struct {
		netns string
		total uint64 // 0: events unavailable
		want  float64
	}{
		{"a", 5, 5},
		{"b", 5, 5},
		{"b", 8, 8},
		{"a", 6, 8},
		{"a", 0, 8},
		{"a", 9, 9},
	}
	for i, st := range steps {
		snap := advisor.Snapshot{Time: time.Unix(int64(1000+i), 0), Sysctls: sysctls(),
			Events: &advisor.ConnEvents{OverflowTotal: st.total}}
		if st.total == 0 {
			snap.Events, snap.EventsUnavailable = nil, "kernel events unavailable: x"
		}
		m.ObserveTick(st.netns, "", snap, advisor.Analyze([]advisor.Snapshot{snap}), time.Millisecond, nil)
		if v := overflow(); v != st.want {
			t.Errorf("step %d (%s, total %d): %v, want %v", i, st.netns, st.total, v, st.want)
		}
	}
}

// tick feeds a window to m as the agent does.
func tick(m *Metrics, window []advisor.Snapshot) {
	m.ObserveTick("", "", window[len(window)-1], advisor.Analyze(window), 3*time.Millisecond, nil)
}

func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// series renders a family's samples as `{a="x",b="y"} value` lines. Labels
// with an empty value are left out, as Prometheus drops them: the netns
// and container of the agent's own namespace.
func series(mf *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	if mf == nil {
		return out
	}
	for _, m := range mf.GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			if l.GetValue() == "" {
				continue
			}
			labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Untyped != nil:
			v = m.GetUntyped().GetValue()
		}
		out["{"+strings.Join(labels, ",")+"}"] = v
	}
	return out
}

func TestBusyTick(t *testing.T) {
	m := New(Options{TopN: 3})
	m.PolicyLoaded("abc123", "dry-run", 10*time.Second, true)
	m.Recommendation("", "widen-port-range", "warning")
	m.Change("", "widen-port-range", "net.ipv4.ip_local_port_range", OutcomeApplied)
	m.Refusal("", "widen-port-range", "net.ipv4.ip_local_port_range", "cooldown")
	tick(m, busyHost(5))
	m.Health("", "", true, []string{"net.ipv4.tcp_tw_reuse"}, nil)
	got := gather(t, m)

	// Every family the collector declares is exported after such a tick,
	// and nothing else.
	var names []string
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := m.FamilyNames(); !slices.Equal(names, want) {
		t.Errorf("gathered families:\n%v\nFamilyNames:\n%v", names, want)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, Namespace+"_") {
			t.Errorf("family %s lacks the %s_ prefix", n, Namespace)
		}
	}

	tests := []struct {
		family, series string
		want           float64
	}{
		{"sockets", `{state="TIME_WAIT"}`, 140},
		{"sockets", `{state="FIN_WAIT2"}`, 10},
		{"sockets", `{state="CLOSE_WAIT"}`, 7},
		{"sockets", `{state="ESTABLISHED"}`, 3},
		{"sockets", `{state="SYN_SENT"}`, 0},
		{"ports_usable", `{}`, 999},
		{"sockets_holding_ports", `{}`, 162},
		{"destinations", `{}`, 5},
		// Top 3 of 50, 40, 30, 20, 10; the rest sum to 30, the busiest
		// of them holds 20.
		{"destination_ports_in_use", `{local="10.0.0.1",remote="10.1.0.1:8004"}`, 50},
		{"destination_ports_in_use", `{local="10.0.0.1",remote="10.1.0.1:8002"}`, 30},
		{"destination_ports_in_use", `{local="other",remote="other"}`, 30},
		{"destination_ports_usable", `{local="other",remote="other"}`, 999},
		{"destination_utilization_ratio", `{local="10.0.0.1",remote="10.1.0.1:8004"}`, 50.0 / 999},
		{"destination_utilization_ratio", `{local="other",remote="other"}`, 20.0 / 999},
		{"worst_utilization_ratio", `{}`, 50.0 / 999},
		{"active_opens_per_second", `{}`, 50},
		{"active_opens_total", `{}`, 1500},
		{"time_wait_overflow_total", `{}`, 3},
		// Two PIDs of one command and unit are one series.
		{"close_wait_sockets", `{command="api",unit="api.service"}`, 4},
		{"close_wait_sockets", `{command="worker",unit="worker.service"}`, 2},
		{"close_wait_sockets", `{command="unknown",unit="unknown"}`, 1},
		{"close_wait_sockets", `{command="other",unit="other"}`, 0},
		{"close_wait_stuck_sockets", `{}`, 7},
		// Destination d holds d orphans: 0+1+2+3+4.
		{"fin_wait2_orphaned_sockets", `{}`, 10},
		{"destination_fin_wait2_orphaned", `{local="10.0.0.1",remote="10.1.0.1:8004"}`, 4},
		{"destination_fin_wait2_orphaned", `{local="other",remote="other"}`, 1},
		{"listener_syn_recv", `{address="0.0.0.0:443"}`, 129},
		{"listener_backlog", `{address="0.0.0.0:443"}`, 128},
		{"syn_queue_overflow_total", `{outcome="drop"}`, 235},
		{"syn_queue_overflow_total", `{outcome="cookie"}`, 4},
		{"sysctl_value", `{key="net.ipv4.tcp_tw_reuse"}`, 2},
		{"sysctl_value", `{key="net.core.somaxconn"}`, 4096},
		{"ip_local_port_range", `{bound="low"}`, 40000},
		{"ip_local_port_range", `{bound="high"}`, 40999},
		{"policy_info", `{checksum="abc123",mode="dry-run"}`, 1},
		{"policy_load_success", `{}`, 1},
		{"tick_interval_seconds", `{}`, 10},
		{"tick_success", `{}`, 1},
		{"tick_duration_seconds", `{}`, 0.003},
		{"recommendations_total", `{rule="widen-port-range",severity="warning"}`, 1},
		{"changes_total", `{key="net.ipv4.ip_local_port_range",outcome="applied",rule="widen-port-range"}`, 1},
		{"refusals_total", `{guardrail="cooldown",key="net.ipv4.ip_local_port_range",rule="widen-port-range"}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.family+tt.series, func(t *testing.T) {
			s := series(got[Namespace+"_"+tt.family])
			v, ok := s[tt.series]
			if !ok {
				t.Fatalf("no series %s; have %v", tt.series, s)
			}
			if v != tt.want {
				t.Errorf("= %v, want %v", v, tt.want)
			}
		})
	}
	// Keys that are not one integer have no sysctl_value series.
	for _, key := range []string{"net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports"} {
		if _, ok := series(got[Namespace+"_sysctl_value"])[fmt.Sprintf("{key=%q}", key)]; ok {
			t.Errorf("sysctl_value has a series for %s", key)
		}
	}
	if n := len(series(got[Namespace+"_destination_ports_in_use"])); n != 4 {
		t.Errorf("destination_ports_in_use has %d series, want top 3 + other", n)
	}
	if ts := series(got[Namespace+"_last_success_timestamp_seconds"])["{}"]; time.Since(time.Unix(int64(ts), 0)) > time.Minute {
		t.Errorf("last_success_timestamp_seconds = %v, not now", ts)
	}
}

// TestDestinationsFollowFindings: with tcp_tw_reuse in effect, the
// destination holding the most sockets is not the one under most pressure.
// The per-destination series come in the findings' order with the
// findings' figures (ports connect() cannot use over usable ports), and
// the worst utilization is that of the findings' worst destination.
func TestDestinationsFollowFindings(t *testing.T) {
	sc := sysctls().With(advisor.KeyTwReuse, "1").With(advisor.KeyTimestamps, "1")
	local := netip.MustParseAddr("10.0.0.1")
	// reused: 600 sockets in TIME_WAIT, all but 10 older than the reuse
	// delay, so 10 ports unavailable; open: 100 open connections.
	reused := advisor.DestKey{Local: local, Remote: netip.MustParseAddrPort("10.1.0.1:80")}
	open := advisor.DestKey{Local: local, Remote: netip.MustParseAddrPort("10.1.0.2:80")}
	sum := &advisor.SocketSummary{Dumped: advisor.StatesOf(advisor.AllStates()...), PerDestination: map[advisor.DestKey]advisor.DestCount{
		reused: {InUse: 600, TimeWait: 600, TimeWaitYoung: 10},
		open:   {InUse: 100},
	}}
	sum.States[advisor.TimeWait], sum.States[advisor.Established] = 600, 100
	snap := advisor.Snapshot{Time: t0, Sysctls: sc, Sockets: sum, Counters: advisor.Counters{TCPInUse: 100, TimeWait: 600}}
	f := advisor.Analyze([]advisor.Snapshot{snap})
	w := f.Worst
	if w == nil || w.Remote != "10.1.0.2:80" || f.Destinations[1].PortsUnavailable != 10 {
		t.Fatalf("findings: worst %+v, destinations %+v", w, f.Destinations)
	}
	m := New(Options{TopN: 1})
	m.ObserveTick("", "", snap, f, time.Millisecond, nil)
	got := gather(t, m)
	want := map[string]map[string]float64{
		"worst_utilization_ratio": {`{}`: 100.0 / 999},
		"destination_utilization_ratio": {
			`{local="10.0.0.1",remote="10.1.0.2:80"}`: 100.0 / 999,
			`{local="other",remote="other"}`:          10.0 / 999,
		},
		"destination_ports_in_use": {
			`{local="10.0.0.1",remote="10.1.0.2:80"}`: 100,
			`{local="other",remote="other"}`:          600,
		},
	}
	for fam, ws := range want {
		if s := series(got[Namespace+"_"+fam]); !mapsEqual(s, ws) {
			t.Errorf("%s = %v, want %v", fam, s, ws)
		}
	}
	// The findings round to four decimals; the metric does not.
	if r := series(got[Namespace+"_worst_utilization_ratio"])["{}"]; math.Abs(r-w.Utilization) > 5e-5 {
		t.Errorf("worst utilization %v, findings' worst destination %v", r, w.Utilization)
	}
}

// TestQuietTick: a tick without a socket dump has no per-destination
// series; TIME_WAIT comes from sockstat and CLOSE_WAIT from the last dump
// that listed it.
func TestQuietTick(t *testing.T) {
	m := New(Options{})
	window := busyHost(2)
	quiet := window[1]
	quiet.Time = quiet.Time.Add(10 * time.Second)
	quiet.Sockets = nil
	quiet.Counters.TimeWait = 42
	m.ObserveTick("", "", quiet, advisor.AnalyzeWithDumps(append(window, quiet), window), time.Millisecond, nil)
	got := gather(t, m)
	if _, ok := got[Namespace+"_destinations"]; ok {
		t.Errorf("destinations exported without a socket dump")
	}
	// Without a dump, the pre-check's bound on every destination: no
	// destination holds more than the sockets holding ports.
	f := advisor.AnalyzeWithDumps(append(window, quiet), window)
	bound := float64(f.Ports.SocketsHoldingPorts) / float64(f.Ports.Usable)
	for fam, want := range map[string]map[string]float64{
		"destination_ports_in_use":      {`{local="any",remote="any"}`: float64(f.Ports.SocketsHoldingPorts)},
		"destination_ports_usable":      {`{local="any",remote="any"}`: float64(f.Ports.Usable)},
		"destination_utilization_ratio": {`{local="any",remote="any"}`: bound},
		"worst_utilization_ratio":       {`{}`: bound},
	} {
		if s := series(got[Namespace+"_"+fam]); !mapsEqual(s, want) || bound <= 0 {
			t.Errorf("%s = %v, want the bound %v", fam, s, want)
		}
	}
	// sockstat's tw counts the last dump's orphaned FIN_WAIT2 timewait
	// socket too: 42 - 1 are TIME_WAIT.
	want := map[string]float64{`{state="TIME_WAIT"}`: 41, `{state="CLOSE_WAIT"}`: 7, `{state="FIN_WAIT2"}`: 1}
	if s := series(got[Namespace+"_sockets"]); !mapsEqual(s, want) {
		t.Errorf("sockets = %v, want %v", s, want)
	}
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestFailedTickAndPolicy: a failed tick keeps the last figures and says
// so; a failed policy load keeps the set in force.
func TestFailedTickAndPolicy(t *testing.T) {
	m := New(Options{})
	m.PolicyLoaded("aaa", "dry-run", 10*time.Second, true)
	tick(m, busyHost(1))
	m.ObserveTick("", "", advisor.Snapshot{}, advisor.Findings{}, time.Second, errors.New("netlink: no"))
	m.PolicyLoaded("bbb", "enforce", time.Second, false)
	got := gather(t, m)
	checks := []struct {
		family, series string
		want           float64
	}{
		{"tick_success", "{}", 0},
		{"tick_duration_seconds", "{}", 1},
		{"sockets", `{state="TIME_WAIT"}`, 10},
		{"policy_load_success", "{}", 0},
		{"policy_info", `{checksum="aaa",mode="dry-run"}`, 1},
		{"tick_interval_seconds", "{}", 10},
	}
	for _, c := range checks {
		if v, ok := series(got[Namespace+"_"+c.family])[c.series]; !ok || v != c.want {
			t.Errorf("%s%s = %v (present %v), want %v", c.family, c.series, v, ok, c.want)
		}
	}
	m.PolicyLoaded("ccc", "enforce", time.Second, true)
	if s := series(gather(t, m)[Namespace+"_policy_info"]); len(s) != 1 || s[`{checksum="ccc",mode="enforce"}`] != 1 {
		t.Errorf("policy_info after a good reload = %v, want the new set alone", s)
	}
}

func parseText(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// runtimeFamily reports families whose values move on their own between
// two reads (Go runtime, process).
func runtimeFamily(name string) bool {
	return strings.HasPrefix(name, Namespace+"_go_") || strings.HasPrefix(name, Namespace+"_process_")
}

// TestTextfileAndEndpoint: the textfile is written atomically with mode
// 0644 whatever the umask, and holds the families the endpoint serves,
// with the same values.
func TestTextfileAndEndpoint(t *testing.T) {
	old := syscall.Umask(0o077) // the unit's UMask
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "tcp-advisor.prom")
	m := New(Options{Textfile: path, TopN: 2})
	m.PolicyLoaded("abc", "dry-run", 10*time.Second, true)
	tick(m, busyHost(4))
	for range 2 { // the second write replaces the first
		if err := m.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != TextfileMode {
		t.Errorf("textfile mode %v, want %v", fi.Mode().Perm(), os.FileMode(TextfileMode))
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the textfile (no temporary left)", len(entries))
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	file := parseText(t, f)

	srv, addr, err := m.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get("http://" + addr.String() + Path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", Path, resp.Status)
	}
	endpoint := parseText(t, resp.Body)

	if len(file) != len(endpoint) {
		t.Errorf("textfile has %d families, endpoint %d", len(file), len(endpoint))
	}
	for name, mf := range endpoint {
		fmf, ok := file[name]
		if !ok {
			t.Errorf("%s served but not in the textfile", name)
			continue
		}
		if fmf.GetType() != mf.GetType() || fmf.GetHelp() != mf.GetHelp() {
			t.Errorf("%s: textfile %v %q, endpoint %v %q", name, fmf.GetType(), fmf.GetHelp(), mf.GetType(), mf.GetHelp())
		}
		if !runtimeFamily(name) && !mapsEqual(series(fmf), series(mf)) {
			t.Errorf("%s: textfile %v, endpoint %v", name, series(fmf), series(mf))
		}
	}
	if resp, err := http.Get("http://" + addr.String() + "/nothing"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing: %v %v, want 404", resp.Status, err)
	}
}

// TestTextfileErrors: a missing directory is an error and leaves nothing.
func TestTextfileErrors(t *testing.T) {
	m := New(Options{Textfile: filepath.Join(t.TempDir(), "missing", "tcp-advisor.prom")})
	if err := m.Flush(); err == nil {
		t.Error("Flush into a missing directory succeeded")
	}
	if err := New(Options{}).Flush(); err != nil {
		t.Errorf("Flush without a textfile: %v", err)
	}
}

// TestPromtoolCheckMetrics lints the exposition with promtool, as
// Prometheus' own tooling sees it (naming conventions, units, _total).
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := testbin.Tool(t, "promtool", "prometheus")
	path := filepath.Join(t.TempDir(), "tcp-advisor.prom")
	m := New(Options{Textfile: path})
	m.PolicyLoaded("abc", "enforce", 10*time.Second, true)
	m.Recommendation("", "r", "warning")
	m.Change("", "r", "net.ipv4.tcp_tw_reuse", OutcomeFailed)
	m.Refusal("", "r", "net.ipv4.tcp_tw_reuse", "bounds")
	tick(m, busyHost(12))
	m.Health("", "", false, []string{"net.ipv4.tcp_tw_reuse"}, []string{"sock_diag: EPERM; read /proc/net/tcp"})
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(data))
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestNamespaces: each namespace's series carry its netns and container
// labels, and a namespace the agent stops observing loses its series at
// the next Flush.
func TestNamespaces(t *testing.T) {
	m := New(Options{})
	snap := advisor.Snapshot{Sysctls: advisor.MustSysctls(map[string]string{advisor.KeyPortRange: "40000 40999"}),
		Counters: advisor.Counters{TimeWait: 5}}
	f := advisor.Analyze([]advisor.Snapshot{snap})
	m.ObserveTick("lb-blue", "", snap, f, time.Millisecond, nil)
	m.ObserveTick("net:[4026532999] (python3 42)", "docker://0123456789ab", snap, f, time.Millisecond, nil)
	m.Recommendation("lb-blue", "r", "warning")
	m.Health("net:[4026532999] (python3 42)", "docker://0123456789ab", true, []string{"net.ipv4.tcp_tw_reuse"}, nil)
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	fams := gather(t, m)
	got := series(fams["tcp_advisor_sockets"])
	for _, want := range []string{
		`{netns="lb-blue",state="TIME_WAIT"}`,
		`{container="docker://0123456789ab",netns="net:[4026532999] (python3 42)",state="TIME_WAIT"}`,
	} {
		if got[want] != 5 {
			t.Errorf("no %s = 5 in %v", want, got)
		}
	}
	if got := series(fams["tcp_advisor_recommendations_total"]); got[`{netns="lb-blue",rule="r",severity="warning"}`] != 1 {
		t.Errorf("recommendations %v", got)
	}
	// The next tick observes lb-blue only: the other namespace is gone.
	m.ObserveTick("lb-blue", "", snap, f, time.Millisecond, nil)
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	fams = gather(t, m)
	for _, fam := range []string{"tcp_advisor_sockets", "tcp_advisor_tick_success", "tcp_advisor_state_store_ok", "tcp_advisor_sysctl_write_backoff"} {
		for k := range series(fams[fam]) {
			if strings.Contains(k, "python3") {
				t.Errorf("%s keeps the gone namespace: %s", fam, k)
			}
		}
	}
}

// TestHealth: state_store_ok and observation_degraded follow each call;
// a key's back-off series exists only while it backs off.
func TestHealth(t *testing.T) {
	m := New(Options{})
	steps := []struct {
		storeOK     bool
		backingOff  []string
		degraded    []string
		wantStore   float64
		wantBackoff map[string]float64
		wantDegr    float64
	}{
		{true, nil, nil, 1, map[string]float64{}, 0},
		{false, []string{"net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse"}, []string{"sock_diag: EPERM; read /proc/net/tcp"}, 0,
			map[string]float64{`{key="net.ipv4.ip_local_port_range"}`: 1, `{key="net.ipv4.tcp_tw_reuse"}`: 1}, 1},
		{true, []string{"net.ipv4.tcp_tw_reuse"}, nil, 1, map[string]float64{`{key="net.ipv4.tcp_tw_reuse"}`: 1}, 0},
		{true, nil, nil, 1, map[string]float64{}, 0},
	}
	for i, st := range steps {
		m.Health("", "", st.storeOK, st.backingOff, st.degraded)
		fams := gather(t, m)
		if got := series(fams["tcp_advisor_state_store_ok"])["{}"]; got != st.wantStore {
			t.Errorf("step %d: state_store_ok %v, want %v", i, got, st.wantStore)
		}
		if got := series(fams["tcp_advisor_observation_degraded"])["{}"]; got != st.wantDegr {
			t.Errorf("step %d: observation_degraded %v, want %v", i, got, st.wantDegr)
		}
		// Every settable key has a series, 0 unless it backs off.
		want := map[string]float64{}
		for _, reg := range advisor.Registry() {
			if reg.Settable {
				want[fmt.Sprintf("{key=%q}", reg.Name)] = 0
			}
		}
		maps.Copy(want, st.wantBackoff)
		if got := series(fams["tcp_advisor_sysctl_write_backoff"]); !mapsEqual(got, want) {
			t.Errorf("step %d: sysctl_write_backoff %v, want %v", i, got, want)
		}
	}
}

// TestEndpointSpeaksOnlyScrapes: the endpoint answers GET and HEAD, refuses
// other methods (CONNECT included) with 405, an oversized header with 431,
// and an HTTP/2 prior-knowledge preface without an HTTP/2 response.
func TestEndpointSpeaksOnlyScrapes(t *testing.T) {
	srv, addr, err := New(Options{}).Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	exchange := func(request string) string {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, request); err != nil {
			t.Fatal(err)
		}
		reply, _ := io.ReadAll(c)
		return string(reply)
	}
	tests := []struct {
		name, request, wantPrefix string
	}{
		{"GET", "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 "},
		{"HEAD", "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 "},
		{"POST", "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "HTTP/1.1 405 "},
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n", "HTTP/1.1 405 "},
		{"oversized header", "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2*MaxHeaderBytes) + "\r\nConnection: close\r\n\r\n", "HTTP/1.1 431 "},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := exchange(tt.request)
			if !strings.HasPrefix(reply, tt.wantPrefix) {
				t.Errorf("reply %.80q, want it to start %q", reply, tt.wantPrefix)
			}
			if tt.name == "HTTP/2 preface" && strings.HasPrefix(reply, "HTTP/1.1 2") {
				t.Errorf("HTTP/2 preface answered with success: %.80q", reply)
			}
		})
	}
}

// TestFirstScrapeSeries: before any recommendation, change or refusal,
// the counters of every rule exist at zero, and build_info names the
// build.
func TestFirstScrapeSeries(t *testing.T) {
	m := New(Options{Version: "1.2.3", Revision: "abc1234"})
	m.Known("", []RuleSeries{{Rule: "port-exhaustion", Severities: []string{"warning", "critical"},
		Keys: []string{"net.ipv4.ip_local_port_range"}, Guardrails: map[string][]string{"net.ipv4.ip_local_port_range": {"max", "max_step"}}}})
	got := gather(t, m)
	want := map[string]map[string]float64{
		"recommendations_total": {`{rule="port-exhaustion",severity="warning"}`: 0, `{rule="port-exhaustion",severity="critical"}`: 0},
		"changes_total": {`{key="net.ipv4.ip_local_port_range",outcome="applied",rule="port-exhaustion"}`: 0,
			`{key="net.ipv4.ip_local_port_range",outcome="failed",rule="port-exhaustion"}`: 0},
		"refusals_total": {`{guardrail="max",key="net.ipv4.ip_local_port_range",rule="port-exhaustion"}`: 0,
			`{guardrail="max_step",key="net.ipv4.ip_local_port_range",rule="port-exhaustion"}`: 0},
		"build_info": {fmt.Sprintf(`{goversion=%q,revision="abc1234",version="1.2.3"}`, runtime.Version()): 1},
	}
	for fam, w := range want {
		if s := series(got[Namespace+"_"+fam]); !mapsEqual(s, w) {
			t.Errorf("%s = %v, want %v", fam, s, w)
		}
	}
}
