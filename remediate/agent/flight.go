package agent

import (
	"slices"
	"strings"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/advisor/record"
	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// fly gives w a flight recorder in its state directory, unless the
// configuration turned it off.
func (a *Agent) fly(w *watch) {
	if a.cfg.FlightRecorder <= 0 {
		return
	}
	size := a.cfg.FlightRecorderBytes
	if size <= 0 {
		size = record.DefaultMaxBytes
	}
	s := w.session
	w.flight = record.NewFlight(s.stateDir, a.cfg.FlightRecorder, size, s.Here, s.initial)
}

// recordFrame keeps the snapshot in w's flight recorder. A recorder that
// cannot write says so once, until it can again; the tick goes on.
func (a *Agent) recordFrame(w *watch, snap advisor.Snapshot, detail bool) {
	if w.flight == nil {
		return
	}
	err := w.flight.Add(record.Frame{Detail: detail, Snapshot: snap})
	switch {
	case err != nil && !w.health.flightFailing:
		w.health.flightFailing = true
		w.sink.Emit(event.FlightRecorderFailing{Dir: w.flight.Dir, Err: err})
	case err == nil && w.health.flightFailing:
		w.health.flightFailing = false
		w.sink.Emit(event.FlightRecorderRecovered{Dir: w.flight.Dir})
	}
}

// criticalStarted writes the flight recording when the plan turns critical
// and returns its path, or "" when it did not start now or nothing was
// written.
func (a *Agent) criticalStarted(w *watch, plan remediate.Plan, now time.Time) string {
	was := w.level
	w.level = plan.Level
	if plan.Level != advisor.SeverityCritical || was == advisor.SeverityCritical {
		return ""
	}
	var rules []string
	add := func(rule string, severity advisor.Severity) {
		if severity == advisor.SeverityCritical && !slices.Contains(rules, rule) {
			rules = append(rules, rule)
		}
	}
	for _, c := range plan.Changes {
		add(c.Rule, c.Severity)
	}
	for _, r := range plan.Refused {
		add(r.Rule, r.Severity)
	}
	for _, adv := range plan.Advice {
		add(adv.Rule, adv.Severity)
	}
	return a.dumpFlight(w, "critical finding: "+strings.Join(rules, ", "), now)
}

// dumpFlight writes w's flight recording for reason and returns its path;
// a recording that cannot be written is said as an event and "" returned.
func (a *Agent) dumpFlight(w *watch, reason string, now time.Time) string {
	if w.flight == nil {
		return ""
	}
	path, err := w.flight.Dump(reason, a.host, now)
	if err != nil {
		w.sink.Emit(event.RecordingFailed{For: reason, Dir: w.flight.Dir, Err: err})
		return ""
	}
	return path
}
