package agent

import (
	"errors"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/metrics"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// Metrics receives the agent's figures for export; *metrics.Metrics (in
// advisor/metrics) is one. The agent calls it with plain values.
type Metrics interface {
	// ObserveTick records a tick's observation, findings and duration in
	// one network namespace (netns and container label it; both "" for
	// the one the agent runs in when it watches no other); err is set
	// when the tick could not observe.
	ObserveTick(netns, container string, snap advisor.Snapshot, f advisor.Findings, took time.Duration, err error)
	// Recommendation counts a rule's recommendation at this tick.
	Recommendation(netns, rule, severity string)
	// Change counts a change tried in enforce mode: "applied" or "failed".
	Change(netns, rule, key, outcome string)
	// Health records the agent's health in one namespace after its tick:
	// whether the state store works, the keys whose writes back off and
	// the observation fallbacks in use.
	Health(netns, container string, stateStoreOK bool, backingOff, degraded []string)
	// Refusal counts a planned change a guardrail refused at this tick.
	Refusal(netns, rule, key, guardrail string)
	// Known creates at zero, in one namespace, the counters the rules
	// of the set in force may increase.
	Known(netns string, rules []metrics.RuleSeries)
	// PolicyLoaded records a (re)load: the set in force, or ok false when
	// it failed and the previous set stays.
	PolicyLoaded(checksum, mode string, interval time.Duration, ok bool)
	// Flush publishes the figures (writes the textfile, if any).
	Flush() error
}

// Change outcomes passed to Metrics.Change.
const (
	outcomeApplied = "applied"
	outcomeFailed  = "failed"
)

// metricsPolicy tells the metrics which policy set is in force.
func (a *Agent) metricsPolicy(ok bool) {
	if a.cfg.Metrics == nil || a.set == nil {
		return
	}
	a.cfg.Metrics.PolicyLoaded(a.set.Checksum(), string(a.Mode()), a.Interval(), ok)
}

// labels are the namespace labels of a watch's metrics: "" for the
// agent's own namespace when it watches no other.
func (w *watch) labels() (netns, container string) {
	if w.ns == nil {
		return "", ""
	}
	if w.ns.Container != nil {
		container = w.ns.Container.String()
	}
	return w.ns.String(), container
}

// metricsPlan counts the tick's recommendations and refusals.
func (a *Agent) metricsPlan(w *watch, recs []policies.Recommendation, plan remediate.Plan) {
	if a.cfg.Metrics == nil {
		return
	}
	ns, _ := w.labels()
	for _, r := range recs {
		a.cfg.Metrics.Recommendation(ns, r.Rule, string(r.Severity))
	}
	for _, r := range plan.Refused {
		a.cfg.Metrics.Refusal(ns, r.Rule, r.Key, r.Guardrail)
	}
}

// metricsApplied counts the changes applied and failed. A group that
// failed after the kernel took it (an AppliedError) is already in applied.
func (a *Agent) metricsApplied(w *watch, applied []remediate.Applied, failed []remediate.Failure) {
	if a.cfg.Metrics == nil {
		return
	}
	ns, _ := w.labels()
	for _, c := range applied {
		a.cfg.Metrics.Change(ns, c.Rule, c.Key, outcomeApplied)
	}
	for _, fl := range failed {
		var ae *remediate.AppliedError
		if errors.As(fl.Err, &ae) {
			continue
		}
		for _, c := range fl.Changes {
			a.cfg.Metrics.Change(ns, c.Rule, c.Key, outcomeFailed)
		}
	}
}

// metricsTick records one namespace's tick.
func (a *Agent) metricsTick(w *watch, snap advisor.Snapshot, f advisor.Findings, start time.Time, err error) {
	if a.cfg.Metrics == nil {
		return
	}
	ns, container := w.labels()
	if w.knownSet != a.set {
		a.cfg.Metrics.Known(ns, ruleSeries(a.set))
		w.knownSet = a.set
	}
	a.cfg.Metrics.ObserveTick(ns, container, snap, f, time.Since(start), err)
	store, backingOff, degraded := w.health.problems("")
	a.cfg.Metrics.Health(ns, container, store == "", backingOff, degraded)
}

// ruleSeries lists what each rule of set may count: every severity, the
// keys it sets and the guardrails the set declares for each.
func ruleSeries(set *policies.Set) []metrics.RuleSeries {
	var out []metrics.RuleSeries
	for _, r := range set.Rules {
		rs := metrics.RuleSeries{Rule: r.Name, Keys: r.Keys, Guardrails: map[string][]string{},
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
		a.event(systemd.EventMetricsFailed, "metrics not written: "+ferr.Error(), map[string]string{systemd.FieldReason: ferr.Error()})
	case ferr == nil && a.metricsFailing:
		_ = a.log.Log(systemd.Event{Kind: systemd.EventMetricsFailed, Priority: systemd.PriorityInfo, Message: "metrics written again"})
	}
	a.metricsFailing = ferr != nil
}
