package metrics

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
)

// TestSink: each event the agent emits moves the counter it stands for,
// labelled with the sink's namespace, and only that one.
func TestSink(t *testing.T) {
	const key = "net.ipv4.ip_local_port_range"
	change := event.Change{Rule: "widen", Key: key, From: "32768 60999", To: "1024 65535"}
	tests := []struct {
		name                          string
		e                             event.Event
		applied, failed, refused, rec float64
	}{
		{name: "applied", e: event.ChangeApplied{Change: change}, applied: 1},
		{name: "failed", e: event.ChangeFailed{Change: change, Err: errors.New("EPERM")}, failed: 1},
		{name: "failed after the kernel took it counts with applied", e: event.ChangeFailed{Change: change, Err: errors.New("state"), AfterWrite: true}},
		{name: "refused", e: event.ChangeRefused{Change: change, Guardrail: "cooldown"}, refused: 1},
		{name: "refused again still counts", e: event.ChangeRefused{Change: change, Guardrail: "cooldown", Repeated: true}, refused: 1},
		{name: "rule fired", e: event.RuleFired{Rule: "widen", Severity: "critical"}, rec: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Options{})
			m.Sink("lb-blue", "").Emit(tt.e)
			for _, c := range []struct {
				what      string
				got, want float64
			}{
				{"applied", count(t, m.changes.WithLabelValues("lb-blue", "widen", key, OutcomeApplied)), tt.applied},
				{"failed", count(t, m.changes.WithLabelValues("lb-blue", "widen", key, OutcomeFailed)), tt.failed},
				{"refused", count(t, m.refusals.WithLabelValues("lb-blue", "widen", key, "cooldown")), tt.refused},
				{"recommendations", count(t, m.recommendations.WithLabelValues("lb-blue", "widen", "critical")), tt.rec},
			} {
				if c.got != c.want {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
}

// count is a counter's value.
func count(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestSinkTicksAndPolicies: tick and policy events set the gauges the
// direct calls set.
func TestSinkTicksAndPolicies(t *testing.T) {
	gauge := func(g prometheus.Gauge) float64 {
		var m dto.Metric
		if err := g.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetGauge().GetValue()
	}
	m := New(Options{})
	sink := m.Sink("lb-blue", "docker:web")
	sink.Emit(event.PolicyLoaded{Checksum: "abc", Mode: "enforce", Interval: 5 * time.Second})
	if got := gauge(m.policyLoad); got != 1 {
		t.Errorf("policy load after PolicyLoaded = %v, want 1", got)
	}
	if got := gauge(m.interval); got != 5 {
		t.Errorf("interval = %v, want 5", got)
	}
	sink.Emit(event.PolicyRejected{})
	if got := gauge(m.policyLoad); got != 0 {
		t.Errorf("policy load after PolicyRejected = %v, want 0", got)
	}
	sink.Emit(event.PolicyLoaded{Checksum: "abc", Mode: "dry-run", Interval: 5 * time.Second})
	sink.Emit(event.EnforceRefused{Mode: "enforce", Err: errors.New("read-only file system")})
	if got := gauge(m.policyLoad); got != 0 {
		t.Errorf("policy load after EnforceRefused = %v, want 0", got)
	}
	sink.Emit(event.TickDone{StateStoreOK: true, NewRules: []event.RuleSeries{{Rule: "widen", Severities: []string{"critical"}}}})
	if got := gauge(m.tickSuccess.WithLabelValues("lb-blue", "docker:web")); got != 1 {
		t.Errorf("tick success = %v, want 1", got)
	}
	if _, ok := gather(t, m)[famRecommendations.fqName()]; !ok {
		t.Errorf("NewRules did not create %s", famRecommendations.fqName())
	}
	sink.Emit(event.TickDone{Err: errors.New("netlink: EPERM")})
	if got := gauge(m.tickSuccess.WithLabelValues("lb-blue", "docker:web")); got != 0 {
		t.Errorf("tick success after a failed tick = %v, want 0", got)
	}
}

// TestSinkLeavesToTheJournal: the events that are the journal's alone
// change no series.
func TestSinkLeavesToTheJournal(t *testing.T) {
	err := errors.New("EIO")
	for _, e := range []event.Event{
		event.PolicyWarning{Summary: "s", Detail: "d"}, event.PersistNotWritten{Why: "w"},
		event.ManagedKeysUnchecked{Err: err}, event.NamespaceNotWatched{Netns: "blue", Err: err}, event.DiscoveryFailed{Err: err},
		event.FlightRecorderFailing{Dir: "/f", Err: err}, event.FlightRecorderRecovered{Dir: "/f"},
		event.RecordingFailed{For: "x", Dir: "/f", Err: err},
		event.StateSalvaged{Problem: "p", Err: err, Aside: "/a"}, event.StateCarriedOver{Dir: "/s", DropIn: "/d", File: "/s/f"},
	} {
		t.Run(fmt.Sprintf("%T", e), func(t *testing.T) {
			m := New(Options{})
			before := gather(t, m)
			m.SinkIn(&netns.Namespace{Inode: 4026532999, Name: "blue"}).Emit(e)
			m.Sink("", "").Emit(e)
			after := gather(t, m)
			if len(after) != len(before) {
				t.Errorf("%d families, want %d", len(after), len(before))
			}
			for name, mf := range after {
				// The runtime's own families move by themselves.
				if strings.HasPrefix(name, "tcp_advisor_go_") || strings.HasPrefix(name, "tcp_advisor_process_") {
					continue
				}
				if b, ok := before[name]; !ok || mf.String() != b.String() {
					t.Errorf("%s changed: %v", name, mf)
				}
			}
		})
	}
}

// TestSinkIn: a namespace's sink is labelled with its name and container;
// nil is the agent's own namespace, unlabelled.
func TestSinkIn(t *testing.T) {
	const key = "net.ipv4.tcp_tw_reuse"
	pod := &netns.Namespace{Inode: 4026532999, Container: &netns.Container{Runtime: "containerd", ID: "abc", PodUID: "0b7c"}}
	m := New(Options{})
	applied := event.ChangeApplied{Change: event.Change{Rule: "reuse", Key: key}}
	m.SinkIn(pod).Emit(applied)
	m.SinkIn(nil).Emit(applied)
	m.SinkIn(nil).Emit(applied)
	if got := count(t, m.changes.WithLabelValues(pod.String(), "reuse", key, OutcomeApplied)); got != 1 {
		t.Errorf("pod's applied = %v, want 1", got)
	}
	if got := count(t, m.changes.WithLabelValues("", "reuse", key, OutcomeApplied)); got != 2 {
		t.Errorf("own applied = %v, want 2", got)
	}
	m.SinkIn(pod).Emit(event.TickDone{StateStoreOK: true})
	var m2 dto.Metric
	if err := m.tickSuccess.WithLabelValues(pod.String(), pod.Container.String()).Write(&m2); err != nil || m2.GetGauge().GetValue() != 1 {
		t.Errorf("pod's tick success labelled %s, %s: %v, %v", pod, pod.Container, m2.GetGauge().GetValue(), err)
	}
}
