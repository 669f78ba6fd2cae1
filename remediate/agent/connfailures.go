package agent

import (
	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
)

// noteConnectFailures logs, once each, when connect() calls in w's
// namespace start failing for lack of a local port (the tick's connection
// events counted some) and when they stop (a tick counted none).
func (a *Agent) noteConnectFailures(w *watch, snap advisor.Snapshot) {
	ev := snap.Events
	if ev == nil {
		return
	}
	w.lastFailures = ev.Totals.Failures
	failing := ev.Totals.Failures > 0
	if failing == w.connectFailing {
		return
	}
	w.connectFailing = failing
	window := ev.Until.Sub(ev.Since)
	if !failing {
		w.sink.Emit(event.ConnectFailuresStopped{Window: window})
		return
	}
	worst, _ := mostFailed(ev.Flows)
	w.sink.Emit(event.ConnectFailuresStarted{Failures: ev.Totals.Failures, Window: window, Worst: worst})
}

// mostFailed returns the flow with the most failed connect() calls.
func mostFailed(flows []advisor.ConnFlow) (advisor.ConnFlow, bool) {
	var best advisor.ConnFlow
	for _, f := range flows {
		if f.Failures > best.Failures {
			best = f
		}
	}
	return best, best.Failures > 0
}
