package agent

import (
	"errors"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
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
	a.cfg.Metrics.ObserveTick(ns, container, snap, f, time.Since(start), err)
	store, backingOff, degraded := w.health.problems("")
	a.cfg.Metrics.Health(ns, container, store == "", backingOff, degraded)
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
