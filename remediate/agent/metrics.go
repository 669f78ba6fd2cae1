package agent

import (
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// Metrics publishes the figures the agent's events gave it (through its
// sink among Sinks'); *metrics.Metrics (in advisor/metrics) is one.
type Metrics interface {
	// Flush publishes the figures (writes the textfile, if any).
	Flush() error
}

// ruleFired tells the sink which rules fired at this tick.
func ruleFired(sink event.Sink, recs []policies.Recommendation) {
	for _, r := range recs {
		sink.Emit(event.RuleFired{Rule: r.Rule, Severity: r.Severity})
	}
}

// tickEnded emits the end of one namespace's tick, with the agent's health
// there and, when a new policy set is in force, what its rules may count.
func (a *Agent) tickEnded(w *watch, snap advisor.Snapshot, f advisor.Findings, start time.Time, err error) {
	e := event.TickDone{Snapshot: snap, Findings: f, Took: time.Since(start), Err: err}
	if w.knownSet != a.set {
		e.NewRules = ruleSeries(a.set)
		w.knownSet = a.set
	}
	store, backingOff, degraded := w.health.problems("")
	e.StateStoreOK, e.BackingOff, e.Degraded = store == "", backingOff, degraded
	w.sink.Emit(e)
}

// ruleSeries lists what each rule of set may count: every severity, the
// keys it sets and the guardrails the set declares for each.
func ruleSeries(set *policies.Set) []event.RuleSeries {
	var out []event.RuleSeries
	for _, r := range set.Rules {
		rs := event.RuleSeries{Rule: r.Name, Keys: r.Keys, Guardrails: map[string][]string{},
			Severities: []string{string(advisor.SeverityInfo), string(advisor.SeverityWarning), string(advisor.SeverityCritical)}}
		for _, key := range r.Keys {
			g := set.Guardrail(key)
			declared := []struct {
				name string
				set  bool
			}{
				{remediate.GuardMin, g.Min != nil}, {remediate.GuardMax, g.Max != nil},
				{remediate.GuardMaxStep, g.MaxStep != nil}, {remediate.GuardAllowed, len(g.Allowed) > 0},
				{remediate.GuardCooldown, g.Cooldown > 0},
			}
			for _, d := range declared {
				if d.set {
					rs.Guardrails[key] = append(rs.Guardrails[key], d.name)
				}
			}
		}
		out = append(out, rs)
	}
	return out
}

// metricsFlush publishes the figures of the tick. A failure to publish is
// logged once, until a publish succeeds again.
func (a *Agent) metricsFlush() {
	if a.cfg.Metrics == nil {
		return
	}
	ferr := a.cfg.Metrics.Flush()
	switch {
	case ferr != nil && !a.metricsFailing:
		a.sink.Emit(event.MetricsFailing{Err: ferr})
	case ferr == nil && a.metricsFailing:
		a.sink.Emit(event.MetricsRecovered{})
	}
	a.metricsFailing = ferr != nil
}
