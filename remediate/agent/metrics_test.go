package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/metrics"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// setupMetrics is setup with the real metrics collector writing textfile.
// A state, when given, is the state file's content before the agent starts.
func setupMetrics(t *testing.T, mode, policyDir, textfile string, state ...string) (*Agent, *metrics.Metrics, *recordingLog) {
	t.Helper()
	root := t.TempDir()
	stateDir := t.TempDir()
	for _, s := range state {
		if err := os.WriteFile(filepath.Join(stateDir, remediate.StateFile), []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	for rel, v := range sysTree {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(v+"\n"), 0o644)
	}
	session, err := OpenSession(observe.Paths{Proc: "/proc", Sys: root, Netns: t.TempDir()}, stateDir, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	obs := &fakeObserver{root: root, inUse: 950, now: time.Now()}
	log := &recordingLog{}
	m := metrics.New(metrics.Options{Textfile: textfile})
	var paths []string
	if policyDir != "" {
		paths = []string{policyDir}
	}
	a, err := New(Config{PolicyPaths: paths, Mode: advisor.Mode(mode), Interval: time.Hour, Metrics: m}, obs, session, log.sinks(m), &recordingNotifier{})
	if err != nil {
		t.Fatal(err)
	}
	return a, m, log
}

// value returns the sum of a family's samples whose labels include want.
func value(t *testing.T, m *metrics.Metrics, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum, found := 0.0, false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, s := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range s.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue metric
				}
			}
			found = true
			sum += metricValue(s)
		}
	}
	return sum, found
}

func metricValue(s *dto.Metric) float64 {
	if s.Counter != nil {
		return s.GetCounter().GetValue()
	}
	return s.GetGauge().GetValue()
}

// TestMetricsFollowTheAgent: in enforce mode the counters match the
// journal's events, the policy checksum is the set's, and the textfile is
// written each tick.
func TestMetricsFollowTheAgent(t *testing.T) {
	textfile := filepath.Join(t.TempDir(), "tcp-advisor.prom")
	a, m, log := setupMetrics(t, "enforce", "", textfile)
	a.Tick()
	a.Tick()
	applied := log.count(systemd.EventChangeApplied)
	if applied == 0 {
		t.Fatalf("nothing applied: %+v", log.events)
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tcp_advisor_changes_total", map[string]string{"outcome": "applied"}, float64(applied)},
		{"tcp_advisor_policy_info", map[string]string{"checksum": a.set.Checksum(), "mode": "enforce"}, 1},
		{"tcp_advisor_policy_load_success", nil, 1},
		{"tcp_advisor_tick_success", nil, 1},
		{"tcp_advisor_tick_interval_seconds", nil, 3600},
		{"tcp_advisor_sockets", map[string]string{"state": "TIME_WAIT"}, 950},
	}
	for _, c := range checks {
		if got, ok := value(t, m, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if n, ok := value(t, m, "tcp_advisor_recommendations_total", nil); !ok || n < 1 {
		t.Errorf("recommendations_total = %v after a tick whose rules fired", n)
	}
	data, err := os.ReadFile(textfile)
	if err != nil {
		t.Fatalf("textfile not written: %v", err)
	}
	if !strings.Contains(string(data), `checksum="`+a.set.Checksum()+`"`) {
		t.Errorf("textfile lacks the policy checksum:\n%s", data)
	}
	for _, e := range log.events {
		if e.Kind == systemd.EventPolicyLoaded && e.Fields[systemd.FieldPolicyChecksum] != a.set.Checksum() {
			t.Errorf("policy_loaded %s = %q, want %q", systemd.FieldPolicyChecksum, e.Fields[systemd.FieldPolicyChecksum], a.set.Checksum())
		}
	}
}

// TestMetricsReloadAndFlushFailure: a failed reload keeps the checksum in
// force and says the load failed; a textfile that cannot be written is
// logged once, and its recovery once.
func TestMetricsReloadAndFlushFailure(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.hcl"), []byte("rule \"only-advice\" {\n  when = true\n  message = \"hello\"\n}\n"), 0o644)
	outDir := filepath.Join(t.TempDir(), "textfile")
	a, m, log := setupMetrics(t, "dry-run", dir, filepath.Join(outDir, "tcp-advisor.prom"))
	good := a.set.Checksum()

	os.WriteFile(filepath.Join(dir, "b.hcl"), []byte("rule \"broken\" {\n  when = \n}\n"), 0o644)
	a.Reload()
	if v, _ := value(t, m, "tcp_advisor_policy_load_success", nil); v != 0 {
		t.Errorf("policy_load_success = %v after a failed reload", v)
	}
	if v, ok := value(t, m, "tcp_advisor_policy_info", map[string]string{"checksum": good}); !ok || v != 1 {
		t.Errorf("policy_info lost the set in force after a failed reload")
	}

	for range 3 { // the directory does not exist yet
		a.Tick()
	}
	if n := log.count(systemd.EventMetricsFailed); n != 1 {
		t.Errorf("%d metrics_failed entries over 3 failing ticks, want 1", n)
	}
	if err := os.Mkdir(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	a.Tick()
	a.Tick()
	if n := log.count(systemd.EventMetricsFailed); n != 2 {
		t.Errorf("%d metrics_failed entries after recovery, want 2 (failure, recovery)", n)
	}
	if v, _ := value(t, m, "tcp_advisor_recommendations_total", map[string]string{"rule": "only-advice"}); v != 5 {
		t.Errorf("recommendations_total{rule=only-advice} = %v after 5 ticks, want 5", v)
	}
}

// TestMetricsHealth: a state file that cannot be read shows as
// state_store_ok 0 until the operator removes it and the back-off passes;
// observation_degraded is 0 while every source works.
func TestMetricsHealth(t *testing.T) {
	torn := `{"version":1,"managed":{"net.ipv4.tcp_tw_reuse":{"orig`
	a, m, _ := setupMetrics(t, "enforce", "", "", torn)
	clock := &fakeClock{t: time.Now()}
	a.now = clock.now
	a.Tick()
	if v, ok := value(t, m, "tcp_advisor_state_store_ok", nil); !ok || v != 0 {
		t.Errorf("state_store_ok = %v (present %v) with a corrupt state file, want 0", v, ok)
	}
	if v, ok := value(t, m, "tcp_advisor_observation_degraded", nil); !ok || v != 0 {
		t.Errorf("observation_degraded = %v (present %v), want 0", v, ok)
	}
	os.Remove(a.own.session.Applier.Store.Path())
	clock.advance(backoffBase)
	a.Tick()
	if v, _ := value(t, m, "tcp_advisor_state_store_ok", nil); v != 1 {
		t.Errorf("state_store_ok = %v after the state file was fixed, want 1", v)
	}
}
