package agent

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/sysctl"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// event logs one event; a logging failure has nowhere better to go.
func (a *Agent) event(kind systemd.EventKind, msg string, fields map[string]string) {
	_ = a.log.Log(systemd.Event{Kind: kind, Message: msg, Fields: fields})
}

// eventIn logs one event about a watched namespace.
func (a *Agent) eventIn(w *watch, kind systemd.EventKind, msg string, fields map[string]string) {
	_ = w.log.Log(systemd.Event{Kind: kind, Message: msg, Fields: fields})
}

// report logs what this tick's plan says that was not already said while it
// kept firing: recommendations (changes it would make where it does not
// enforce), advice, refusals and leaks. recording, when not empty, is the
// flight recording written this tick, named in each entry.
func (a *Agent) report(w *watch, plan remediate.Plan, f advisor.Findings, diags hcl.Diagnostics, enforce bool, recording string) {
	current := map[string]bool{}
	once := func(id string, log func()) {
		current[id] = true
		if !w.announced[id] {
			log()
		}
	}
	event := func(kind systemd.EventKind, msg string, fields map[string]string) {
		if recording != "" {
			fields[systemd.FieldRecording] = recording
		}
		a.eventIn(w, kind, msg, fields)
	}
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		where, fields := diagFields(d)
		once("evaluation:"+where+d.Summary, func() {
			event(systemd.EventPolicyRejected, where+"rule skipped, the others still run: "+d.Summary+": "+d.Detail, fields)
		})
	}
	mode := a.Mode()
	if !enforce {
		mode = advisor.ModeDryRun
	}
	for _, c := range plan.Changes {
		if enforce {
			break
		}
		// The proposed value follows the numbers tick by tick; what is
		// announced once is the rule's wish to change the key, and again
		// when its severity changes: a warning turned critical (whose
		// entry names the flight recording) is news.
		once("change:"+c.Rule+"\x00"+c.Key+"\x00"+string(c.Severity), func() {
			event(systemd.EventRecommendation,
				fmt.Sprintf("dry-run: would set %s from %q to %q (rule %s): %s", c.Key, c.From, c.To, c.Rule, c.Reason),
				changeFields(c, mode, &f))
		})
	}
	for _, adv := range plan.Advice {
		once("advice:"+adv.Rule+"\x00"+string(adv.Severity), func() {
			event(systemd.EventRecommendation, fmt.Sprintf("advice (rule %s, %s): %s", adv.Rule, adv.Severity, adv.Message),
				map[string]string{systemd.FieldRule: adv.Rule, systemd.FieldReason: adv.Message})
		})
	}
	for _, r := range plan.Refused {
		once("refused:"+r.Rule+"\x00"+r.Key+"\x00"+r.Guardrail+"\x00"+string(r.Severity), func() {
			event(systemd.EventChangeRefused,
				fmt.Sprintf("refused %s %q -> %q (rule %s) by guardrail %s (%s, %s): %s", r.Key, r.From, r.To, r.Rule, r.Guardrail, r.Bound, r.Source, r.Reason),
				map[string]string{systemd.FieldRule: r.Rule, systemd.FieldKey: r.Key, systemd.FieldOldValue: r.From,
					systemd.FieldNewValue: r.To, systemd.FieldGuardrail: r.Guardrail, systemd.FieldReason: r.Reason})
		})
	}
	// A leak is sockets that stay: CLOSE_WAIT seen once may be a server
	// between the peer's FIN and its own close().
	if cw := f.CloseWait; len(cw.ByOwner) > 0 && cw.Stuck != nil && *cw.Stuck > 0 {
		top := cw.ByOwner[0]
		once(fmt.Sprintf("leak:%d", top.PID), func() {
			event(systemd.EventCloseWaitLeak,
				fmt.Sprintf("CLOSE_WAIT leak: %s (pid %d, unit %s) holds %d of %d CLOSE_WAIT sockets, %+d over the window, %d stuck, remote pattern %s; an application bug no sysctl fixes",
					top.Command, top.PID, top.Unit, top.Count, cw.Count, cw.Growth, *cw.Stuck, cw.Pattern),
				map[string]string{systemd.FieldPID: fmt.Sprint(top.PID), systemd.FieldUnit: top.Unit, systemd.FieldCommand: top.Command,
					systemd.FieldReason: fmt.Sprintf("%d CLOSE_WAIT, pattern %s", cw.Count, cw.Pattern)})
		})
	}
	w.announced = current
}

// diagFields are the journal fields of a policy diagnostic, and where it
// points: "file:line:column: ", or "" when it has no position.
func diagFields(d *hcl.Diagnostic) (where string, fields map[string]string) {
	fields = map[string]string{systemd.FieldReason: d.Summary + ": " + d.Detail}
	if d.Subject != nil {
		where = fmt.Sprintf("%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		fields[systemd.FieldPolicyFile] = d.Subject.Filename
		fields[systemd.FieldPolicyLine] = fmt.Sprint(d.Subject.Start.Line)
	}
	return where, fields
}

// apply writes the plan and logs each change applied or failed. recording
// is the flight recording this tick already wrote, if any; applied changes
// write one otherwise.
func (a *Agent) apply(w *watch, plan remediate.Plan, f advisor.Findings, recording string) {
	if len(plan.Changes) == 0 {
		return
	}
	applied, failed := w.session.Applier.Apply(w.session.State, plan)
	a.applied += len(applied)
	a.metricsApplied(w, applied, failed)
	if len(applied) > 0 && recording == "" {
		keys := make([]string, len(applied))
		for i, c := range applied {
			keys[i] = c.Key
		}
		recording = a.dumpFlight(w, "change applied: "+strings.Join(keys, ", "), a.now())
	}
	logApplied(w.log, a.Mode(), applied, a.sortFailures(w, applied, failed), &f, recording)
}

// logApplied logs each change applied, and each change of a group that
// failed; findings (may be nil) add the worst destination, and recording
// (may be empty) the flight recording the changes applied made.
func logApplied(log Logger, mode advisor.Mode, applied []remediate.Applied, failed []remediate.Failure, f *advisor.Findings, recording string) {
	for _, c := range applied {
		fields := changeFields(c.Change, mode, f)
		if recording != "" {
			fields[systemd.FieldRecording] = recording
		}
		_ = log.Log(systemd.Event{Kind: systemd.EventChangeApplied,
			Message: fmt.Sprintf("set %s from %q to %q (rule %s): %s", c.Key, c.From, c.To, c.Rule, c.Reason),
			Fields:  fields})
	}
	for _, fl := range failed {
		var ae *remediate.AppliedError
		if errors.As(fl.Err, &ae) {
			for _, c := range fl.Changes {
				fields := changeFields(c, mode, f)
				fields[systemd.FieldReason] = ae.Err.Error()
				_ = log.Log(systemd.Event{Kind: systemd.EventChangeFailed,
					Message: fmt.Sprintf("%s is %q as planned, but %v", c.Key, c.To, ae.Err), Fields: fields})
			}
			continue
		}
		var we *sysctl.WriteError
		errors.As(fl.Err, &we)
		for _, c := range fl.Changes {
			fields := changeFields(c, mode, f)
			fields[systemd.FieldReason] = fl.Err.Error()
			if we != nil && we.Errno() != "" {
				fields[systemd.FieldErrno] = we.Errno()
			}
			_ = log.Log(systemd.Event{Kind: systemd.EventChangeFailed,
				Message: fmt.Sprintf("did not set %s to %q (rule %s): %v; the group was left as it was", c.Key, c.To, c.Rule, fl.Err),
				Fields:  fields})
		}
	}
}

// changeFields are the journal fields of a change; findings (may be nil)
// add the worst destination.
func changeFields(c remediate.Change, mode advisor.Mode, f *advisor.Findings) map[string]string {
	fields := map[string]string{
		systemd.FieldRule: c.Rule, systemd.FieldKey: c.Key, systemd.FieldOldValue: c.From,
		systemd.FieldNewValue: c.To, systemd.FieldReason: c.Reason, systemd.FieldMode: string(mode),
	}
	if f == nil {
		return fields
	}
	if w := f.Connections.Worst; w != nil {
		fields[systemd.FieldDestination] = w.Remote
		fields[systemd.FieldUtilization] = fmt.Sprintf("%.4f", w.Utilization)
	}
	return fields
}

// statusLine is the one-line summary `systemctl status` shows: the mode,
// the worst destination of any namespace watched, TIME_WAIT and CLOSE_WAIT,
// the changes applied and how long the tick took.
func (a *Agent) statusLine(ws []*watch, took time.Duration) string {
	var worst *advisor.DestinationUse
	where := ""
	tw, cw, failed := 0, 0, 0
	var failures uint64
	var f advisor.Findings
	for _, w := range ws {
		if !w.observed {
			failed++
			continue
		}
		f = w.findings
		failures += w.lastFailures
		tw += f.TimeWait.Count
		cw += f.CloseWait.Count
		if d := f.Connections.Worst; d != nil && (worst == nil || d.Pressure() > worst.Pressure()) {
			worst, where = d, w.name()
		}
	}
	desc := "no destination near its limit"
	switch {
	case worst != nil && len(ws) > 1:
		desc = fmt.Sprintf("worst %s in %s %.1f%% of %d ports", worst.Remote, where, worst.Utilization*100, worst.PortsUsable)
	case worst != nil:
		desc = fmt.Sprintf("worst %s %.1f%% of %d ports", worst.Remote, worst.Utilization*100, worst.PortsUsable)
	case len(ws) == 1 && !f.Ports.ExhaustionPossible:
		desc = fmt.Sprintf("%d sockets hold ports, %d usable: no exhaustion possible", f.Ports.SocketsHoldingPorts, f.Ports.Usable)
	}
	line := fmt.Sprintf("%s: %s; TIME_WAIT %d; CLOSE_WAIT %d; %d changes applied", a.Mode(), desc, tw, cw, a.applied)
	if len(ws) > 1 {
		line += fmt.Sprintf("; %d namespaces", len(ws))
	}
	if failed > 0 {
		line += fmt.Sprintf("; %d not observed", failed)
	}
	if h := a.healthLine(ws); h != "" {
		line += "; " + h
	}
	if failures > 0 {
		line += fmt.Sprintf("; %d connect() failed for lack of a port", failures)
	}
	if why := a.cfg.Paths.Events.Unavailable; why != "" {
		line += "; " + why
	}
	// What a soak test or an operator watching `systemctl status` needs to
	// see the agent stays cheap: the tick's duration and the goroutines.
	return line + fmt.Sprintf("; tick %s, %d goroutines", took.Round(100*time.Microsecond), runtime.NumGoroutine())
}
