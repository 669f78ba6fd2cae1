package orchestrate

import (
	"errors"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// Metrics receives the agent's figures for export; *metrics.Metrics (in
// advisor/report/metrics) is one. The agent calls it with plain values.
type Metrics interface {
	// ObserveTick records a tick's observation, findings and duration;
	// err is set when the tick could not observe.
	ObserveTick(snap advisor.Snapshot, f advisor.Findings, took time.Duration, err error)
	// Recommendation counts a rule's recommendation at this tick.
	Recommendation(rule, severity string)
	// Change counts a change tried in enforce mode: "applied" or "failed".
	Change(rule, key, outcome string)
	// Refusal counts a planned change a guardrail refused at this tick.
	Refusal(rule, key, guardrail string)
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
	a.cfg.Metrics.PolicyLoaded(a.set.Checksum(), a.Mode(), a.Interval(), ok)
}

// metricsPlan counts the tick's recommendations and refusals.
func (a *Agent) metricsPlan(recs []policies.Recommendation, plan remediate.Plan) {
	if a.cfg.Metrics == nil {
		return
	}
	for _, r := range recs {
		a.cfg.Metrics.Recommendation(r.Rule, r.Severity)
	}
	for _, r := range plan.Refused {
		a.cfg.Metrics.Refusal(r.Rule, r.Key, r.Guardrail)
	}
}

// metricsApplied counts the changes applied and failed. A group that
// failed after the kernel took it (an AppliedError) is already in applied.
func (a *Agent) metricsApplied(applied []remediate.Applied, failed []remediate.Failure) {
	if a.cfg.Metrics == nil {
		return
	}
	for _, c := range applied {
		a.cfg.Metrics.Change(c.Rule, c.Key, outcomeApplied)
	}
	for _, fl := range failed {
		var ae *remediate.AppliedError
		if errors.As(fl.Err, &ae) {
			continue
		}
		for _, c := range fl.Changes {
			a.cfg.Metrics.Change(c.Rule, c.Key, outcomeFailed)
		}
	}
}

// metricsTick records the tick and publishes the figures. A failure to
// publish is logged once, until a publish succeeds again.
func (a *Agent) metricsTick(snap advisor.Snapshot, f advisor.Findings, start time.Time, err error) {
	if a.cfg.Metrics == nil {
		return
	}
	a.cfg.Metrics.ObserveTick(snap, f, time.Since(start), err)
	ferr := a.cfg.Metrics.Flush()
	switch {
	case ferr != nil && !a.metricsFailing:
		a.event(systemd.EventMetricsFailed, "metrics not written: "+ferr.Error(), map[string]string{systemd.FieldReason: ferr.Error()})
	case ferr == nil && a.metricsFailing:
		_ = a.log.Log(systemd.Event{Kind: systemd.EventMetricsFailed, Priority: systemd.PriorityInfo, Message: "metrics written again"})
	}
	a.metricsFailing = ferr != nil
}
