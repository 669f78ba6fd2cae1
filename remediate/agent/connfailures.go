package agent

import (
	"fmt"
	"strconv"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/systemd"
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
	secs := ev.Until.Sub(ev.Since).Seconds()
	if !failing {
		reason := fmt.Sprintf("no connect() call failed for lack of a port in the last %.0f s", secs)
		_ = w.log.Log(systemd.Event{Kind: systemd.EventConnectFailures, Priority: systemd.PriorityNotice,
			Message: "connect() failures stopped: " + reason, Fields: map[string]string{systemd.FieldReason: reason}})
		return
	}
	reason := fmt.Sprintf("%d connect() calls found no local port in the last %.0f s", ev.Totals.Failures, secs)
	fields := map[string]string{systemd.FieldConnectFailures: strconv.FormatUint(ev.Totals.Failures, 10)}
	if f, ok := mostFailed(ev.Flows); ok {
		reason += fmt.Sprintf(", %d of them %s -> %s by %s", f.Failures, f.Local, f.Remote, ownerName(f))
		fields[systemd.FieldDestination] = f.Remote.String()
		fields[systemd.FieldCommand] = f.Command
		fields[systemd.FieldPID] = strconv.Itoa(f.PID)
		if f.Unit != "" {
			fields[systemd.FieldUnit] = f.Unit
		}
	}
	fields[systemd.FieldReason] = reason
	a.eventIn(w, systemd.EventConnectFailures, "connect() failures started: "+reason, fields)
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

// ownerName is "command (pid N, unit U)".
func ownerName(f advisor.ConnFlow) string {
	if f.Unit != "" {
		return fmt.Sprintf("%s (pid %d, unit %s)", f.Command, f.PID, f.Unit)
	}
	return fmt.Sprintf("%s (pid %d)", f.Command, f.PID)
}
