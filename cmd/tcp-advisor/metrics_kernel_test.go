package main

import (
	"context"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// ssStates maps the metrics' state names to ss's state filters; CLOSE and
// NEW_SYN_RECV have no ss filter of their own.
var ssStates = map[string]string{
	"ESTABLISHED": "established", "SYN_SENT": "syn-sent", "SYN_RECV": "syn-recv",
	"FIN_WAIT1": "fin-wait-1", "FIN_WAIT2": "fin-wait-2", "TIME_WAIT": "time-wait",
	"CLOSE_WAIT": "close-wait", "LAST_ACK": "last-ack", "LISTEN": "listening", "CLOSING": "closing",
}

// scrape fetches url from inside ns with curl, as an operator would.
func scrape(t *testing.T, ns *netnstest.NS, url string) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	body := ns.MustRun(t, "curl", "-fsS", "--max-time", "10", url)
	return body, parseExposition(t, body)
}

func parseExposition(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing metrics: %v\n%s", err, text)
	}
	return mfs
}

// gaugeBy returns a family's gauge values keyed by one label's value.
func gaugeBy(mf *dto.MetricFamily, label string) map[string]float64 {
	out := map[string]float64{}
	if mf == nil {
		return out
	}
	for _, m := range mf.GetMetric() {
		key := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				key = l.GetValue()
			}
		}
		out[key] = m.GetGauge().GetValue()
	}
	return out
}

// ssCounts counts the namespace's TCP sockets in each state the metrics
// export, with ss.
func ssCounts(t *testing.T, ns *netnstest.NS, states []string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, s := range states {
		if f, ok := ssStates[s]; ok {
			out[s] = float64(strings.Count(ns.MustRun(t, "ss", "-tanH", "state", f), "\n"))
		}
	}
	return out
}

// TestKernelMetricsEndpoint is the fleet issue's acceptance check, run as
// a new user would: `tcp-advisor run --metrics-listen 127.0.0.1:9815` in a
// namespace with TIME_WAIT and CLOSE_WAIT load serves per-state values equal
// to ss's counts, per-destination port use, the policy checksum, passes
// promtool check metrics, and the textfile holds the same families.
func TestKernelMetricsEndpoint(t *testing.T) {
	advisorBin, loadBin := binaries(t)
	netnstest.RequireTools(t, "curl", "promtool")
	// 1000 ports: 600 TIME_WAIT towards one destination make the agent dump
	// the whole table every tick, so every state is exported.
	ns := exhaustionNS(t)
	ns.MustRun(t, loadBin, "timewait", "-addr", "127.0.0.1:9000", "-n", "600")
	ns.Start(t, "ready", loadBin, "closewait", "-addr", "127.0.0.1:9100", "-n", "40")

	textfile := filepath.Join(t.TempDir(), "tcp-advisor.prom")
	notified := listenNotify(t)
	agent := startAgent(t, ns, advisorBin, "--interval", "1s", "--detail-interval", "1s", "--state-dir", t.TempDir(),
		"--metrics-listen", "127.0.0.1:9815", "--metrics-textfile", textfile)
	const url = "http://127.0.0.1:9815/metrics"
	waitFor(t, 20*time.Second, func() bool {
		_, err := os.Stat(textfile)
		return err == nil
	}, "the textfile", agent)

	// Each scrape leaves a TIME_WAIT socket of its own (curl closes first),
	// so count with ss, let the agent tick, then scrape: the scrape reports
	// that tick. The load is steady for a minute; retry while a tick lands
	// mid-scrape.
	_, first := scrape(t, ns, url)
	states := slices.Sorted(maps.Keys(gaugeBy(first["tcp_advisor_sockets"], "state")))
	var body string
	var mfs map[string]*dto.MetricFamily
	var got, want map[string]float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		want = ssCounts(t, ns, states)
		time.Sleep(1500 * time.Millisecond) // --interval 1s
		body, mfs = scrape(t, ns, url)
		got = gaugeBy(mfs["tcp_advisor_sockets"], "state")
		if subsetEqual(want, got) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tcp_advisor_sockets %v never matched ss %v", got, want)
		}
	}
	t.Logf("tcp_advisor_sockets = ss: %v", want)
	for _, s := range []string{"TIME_WAIT", "CLOSE_WAIT", "LISTEN", "ESTABLISHED", "FIN_WAIT2"} {
		if _, ok := got[s]; !ok {
			t.Errorf("no tcp_advisor_sockets{state=%q}", s)
		}
	}
	if got["TIME_WAIT"] < 590 || got["CLOSE_WAIT"] != 40 {
		t.Errorf("TIME_WAIT %v, CLOSE_WAIT %v: the load is 600 and 40", got["TIME_WAIT"], got["CLOSE_WAIT"])
	}

	// Per destination: 127.0.0.1 -> 127.0.0.1:9000 holds the TIME_WAIT ports.
	inUse := gaugeBy(mfs["tcp_advisor_destination_ports_in_use"], "remote")
	ssDest := float64(strings.Count(ns.MustRun(t, "ss", "-tanH", "state", "time-wait", "dst", "127.0.0.1:9000"), "\n"))
	if inUse["127.0.0.1:9000"] != ssDest {
		t.Errorf("destination_ports_in_use{remote=127.0.0.1:9000} = %v, ss counts %v", inUse["127.0.0.1:9000"], ssDest)
	}
	if u := gaugeBy(mfs["tcp_advisor_destination_utilization_ratio"], "remote")["127.0.0.1:9000"]; u < 0.5 || u > 0.7 {
		t.Errorf("utilization of 127.0.0.1:9000 = %v, want about 600/1000", u)
	}
	if owners := gaugeBy(mfs["tcp_advisor_close_wait_sockets"], "command"); owners["tcpload"] != 40 {
		t.Errorf("close_wait_sockets by command = %v, want tcpload 40", owners)
	}

	// The policy checksum: the embedded defaults', in the metrics and the log.
	sum := policies.Default().Checksum()
	info := mfs["tcp_advisor_policy_info"]
	if info == nil || len(info.GetMetric()) != 1 || labelValue(info.GetMetric()[0], "checksum") != sum || labelValue(info.GetMetric()[0], "mode") != "dry-run" {
		t.Errorf("tcp_advisor_policy_info = %v, want checksum %s mode dry-run", info, sum)
	}
	if !strings.Contains(agent.log.String(), "checksum "+sum) {
		t.Errorf("the agent did not log the policy checksum %s", sum)
	}

	// promtool lints the endpoint's output.
	lint := exec.Command("promtool", "check", "metrics")
	lint.Stdin = strings.NewReader(body)
	if out, err := lint.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// connect() calls that find no port towards 127.0.0.1:9000 (400 of
	// its 1000 ports are left) raise connect_failures_total, from the
	// kernel's connection events. Where the kernel refuses the events,
	// kernel_events_available says why, connect_failures_total has no
	// series, and the agent's STATUS line says why too.
	why := eventsRefused(advisorBin)
	av := gaugeBy(mfs["tcp_advisor_kernel_events_available"], "reason")
	var reason string
	for r := range av {
		reason = r
	}
	switch {
	case why == "" && !maps.Equal(av, map[string]float64{"": 1}):
		t.Errorf("tcp_advisor_kernel_events_available = %v, want 1", av)
	case why != "" && (len(av) != 1 || !strings.HasPrefix(reason, why) || av[reason] != 0):
		t.Errorf("tcp_advisor_kernel_events_available = %v, want 0 with reason %q...", av, why)
	}
	failures := func(mfs map[string]*dto.MetricFamily) (n float64, series int) {
		for _, m := range mfs["tcp_advisor_connect_failures_total"].GetMetric() {
			n += m.GetCounter().GetValue()
			series++
		}
		return n, series
	}
	before, _ := failures(mfs)
	dial := ns.MustRun(t, loadBin, "dial", "-addr", "127.0.0.1:9000", "-rate", "300", "-duration", "3s", "-serve")
	if !strings.Contains(dial, `"eaddrnotavail":`) || strings.Count(dial, `"eaddrnotavail":0`) == strings.Count(dial, "\n") {
		t.Fatalf("the dial load never failed:\n%s", dial)
	}
	if why != "" {
		// Two ticks after the failures: still no series, and the
		// STATUS line gives the reason.
		time.Sleep(2500 * time.Millisecond)
		body, mfs = scrape(t, ns, url)
		if _, series := failures(mfs); series != 0 {
			t.Errorf("tcp_advisor_connect_failures_total has %d series without the events", series)
		}
		if st := notified.last(); !strings.HasPrefix(st, "STATUS=") || !strings.Contains(st, "; "+reason+"; ") {
			t.Errorf("the agent's last STATUS line does not say %q: %q", reason, st)
		}
	} else {
		var after float64
		waitFor(t, 10*time.Second, func() bool {
			body, mfs = scrape(t, ns, url)
			after, _ = failures(mfs)
			return after > before
		}, "connect_failures_total to rise", agent)
		t.Logf("tcp_advisor_connect_failures_total %v -> %v", before, after)
		if st := notified.last(); !strings.HasPrefix(st, "STATUS=") || strings.Contains(st, "unavailable") {
			t.Errorf("the agent's last STATUS line: %q, want one without \"unavailable\"", st)
		}
	}

	// The textfile holds the same families (written by the same registry).
	data, err := os.ReadFile(textfile)
	if err != nil {
		t.Fatal(err)
	}
	file := parseExposition(t, string(data))
	if a, b := slices.Sorted(maps.Keys(file)), slices.Sorted(maps.Keys(mfs)); !slices.Equal(a, b) {
		t.Errorf("textfile families %v\nendpoint families %v", a, b)
	}
	if fi, err := os.Stat(textfile); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("textfile mode: %v %v", fi.Mode(), err)
	}
}

// notifications holds the STATUS= lines an agent sent to its sd_notify
// socket.
type notifications struct {
	mu     sync.Mutex
	status []string
}

// last is the latest STATUS= line; "" before the first.
func (n *notifications) last() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.status) == 0 {
		return ""
	}
	return n.status[len(n.status)-1]
}

// listenNotify makes a socket for sd_notify and points NOTIFY_SOCKET, for
// the commands the test starts after it, to it: a path, which reaches it
// from every network namespace.
func listenNotify(t *testing.T) *notifications {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	n := &notifications{}
	go func() {
		buf := make([]byte, 8192)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			for line := range strings.Lines(string(buf[:k])) {
				if line = strings.TrimSpace(line); strings.HasPrefix(line, "STATUS=") {
					n.mu.Lock()
					n.status = append(n.status, line)
					n.mu.Unlock()
				}
			}
		}
	}()
	return n
}

// TestKernelMetricsNoListenerByDefault: without --metrics-listen the agent
// opens no socket, whatever else it exports.
func TestKernelMetricsNoListenerByDefault(t *testing.T) {
	advisorBin, _ := binaries(t)
	ns := netnstest.New(t)
	textfile := filepath.Join(t.TempDir(), "tcp-advisor.prom")
	agent := startAgent(t, ns, advisorBin, "--interval", "1s", "--state-dir", t.TempDir(), "--metrics-textfile", textfile)
	waitFor(t, 20*time.Second, func() bool {
		_, err := os.Stat(textfile)
		return err == nil
	}, "the textfile", agent)
	if out := ns.MustRun(t, "ss", "-tuanpH"); strings.Contains(out, "tcp-advisor") {
		t.Errorf("the agent holds a TCP or UDP socket without --metrics-listen:\n%s", out)
	}
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// subsetEqual reports whether every key of want has the same value in got.
func subsetEqual(want, got map[string]float64) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func waitFor(t *testing.T, d time.Duration, ok func() bool, what string, agent *agentProc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("no %s after %v; agent log:\n%s", what, d, agent.log.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
