package agent

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/advisor/sysctl"
	"github.com/tcp-advisor/tcp-advisor/remediate"
)

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
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		p := policyProblem(d)
		once(fmt.Sprintf("evaluation:%s:%d:%d: %s", p.File, p.Line, p.Column, d.Summary), func() {
			w.sink.Emit(event.RuleSkipped{Problem: p, Recording: recording})
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
			w.sink.Emit(event.ChangeRecommended{Change: eventChange(c), Severity: c.Severity,
				Context: event.Context{Mode: mode, Worst: f.Worst, Recording: recording}})
		})
	}
	for _, adv := range plan.Advice {
		once("advice:"+adv.Rule+"\x00"+string(adv.Severity), func() {
			w.sink.Emit(event.AdviceGiven{Rule: adv.Rule, Message: adv.Message, Severity: adv.Severity, Recording: recording})
		})
	}
	for _, r := range plan.Refused {
		// Every refusal counts; one the previous tick made is no news.
		id := "refused:" + r.Rule + "\x00" + r.Key + "\x00" + r.Guardrail + "\x00" + string(r.Severity)
		current[id] = true
		w.sink.Emit(event.ChangeRefused{Change: eventChange(r.Change), Guardrail: r.Guardrail, Bound: r.Bound,
			Source: r.Source, Reason: r.Reason, Severity: r.Severity, Recording: recording, Repeated: w.announced[id]})
	}
	// A leak is sockets that stay: CLOSE_WAIT seen once may be a server
	// between the peer's FIN and its own close().
	if cw := f.CloseWait; len(cw.ByOwner) > 0 && cw.Stuck != nil && *cw.Stuck > 0 {
		top := cw.ByOwner[0]
		once(fmt.Sprintf("leak:%d", top.PID), func() {
			w.sink.Emit(event.CloseWaitLeak{Top: top, Total: cw.Count, Growth: cw.Growth, Stuck: *cw.Stuck, Pattern: cw.Pattern, Recording: recording})
		})
	}
	w.announced = current
}

// policyProblem is how events tell a policy diagnostic.
func policyProblem(d *hcl.Diagnostic) event.PolicyProblem {
	p := event.PolicyProblem{Summary: d.Summary, Detail: d.Detail}
	if d.Subject != nil {
		p.File, p.Line, p.Column = d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column
	}
	return p
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
	if len(applied) > 0 && recording == "" {
		keys := make([]string, len(applied))
		for i, c := range applied {
			keys[i] = c.Key
		}
		recording = a.dumpFlight(w, "change applied: "+strings.Join(keys, ", "), a.now())
	}
	emitApplied(w.sink, a.Mode(), applied, a.sortFailures(w, applied, failed), &f, recording)
}

// emitApplied emits each change applied, and each change of a group that
// failed; findings (may be nil) add the worst destination, and recording
// (may be empty) the flight recording the changes applied made.
func emitApplied(sink event.Sink, mode advisor.Mode, applied []remediate.Applied, failed []remediate.Failure, f *advisor.Findings, recording string) {
	ctx := event.Context{Mode: mode, Recording: recording}
	if f != nil {
		ctx.Worst = f.Worst
	}
	for _, c := range applied {
		sink.Emit(event.ChangeApplied{Change: eventChange(c.Change), Context: ctx})
	}
	ctx.Recording = ""
	for _, fl := range failed {
		var ae *remediate.AppliedError
		if errors.As(fl.Err, &ae) {
			for _, c := range fl.Changes {
				sink.Emit(event.ChangeFailed{Change: eventChange(c), Context: ctx, Err: ae.Err, AfterWrite: true})
			}
			continue
		}
		var we *sysctl.WriteError
		errno := ""
		if errors.As(fl.Err, &we) {
			errno = we.Errno()
		}
		for _, c := range fl.Changes {
			sink.Emit(event.ChangeFailed{Change: eventChange(c), Context: ctx, Err: fl.Err, Errno: errno})
		}
	}
}

// eventChange is how events tell a planned change.
func eventChange(c remediate.Change) event.Change {
	return event.Change{Rule: c.Rule, Key: c.Key, From: c.From, To: c.To, Reason: c.Reason, Platform: c.Platform}
}

// statusLine is the one-line summary `systemctl status` shows: the mode,
// the worst destination of any namespace watched, TIME_WAIT and CLOSE_WAIT,
// the changes applied and how long the tick took.
func (a *Agent) statusLine(ws []*watch, took time.Duration) string {
	var worst *advisor.DestinationUse
	where := ""
	tw, cw, failed, refused := 0, 0, 0, 0
	var failures uint64
	var f advisor.Findings
	for _, w := range ws {
		switch {
		case w.entryRefused:
			refused++
			continue
		case !w.observed:
			failed++
			continue
		}
		f = w.findings
		failures += w.lastFailures
		tw += f.TimeWait.Count
		cw += f.CloseWait.Count
		if d := f.Worst; d != nil && (worst == nil || d.Pressure() > worst.Pressure()) {
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
	if refused > 0 {
		line += fmt.Sprintf("; %d not entered: needs CAP_SYS_ADMIN (all-namespaces.conf)", refused)
	}
	if h := a.healthLine(ws); h != "" {
		line += "; " + h
	}
	if failures > 0 {
		line += fmt.Sprintf("; %d connect() calls failed for lack of a port", failures)
	}
	if why := a.cfg.Paths.Events.Unavailable; why != "" {
		line += "; " + why
	}
	// What a soak test or an operator watching `systemctl status` needs to
	// see the agent stays cheap: the tick's duration and the goroutines.
	return line + fmt.Sprintf("; tick %s, %d goroutines", took.Round(100*time.Microsecond), runtime.NumGoroutine())
}
