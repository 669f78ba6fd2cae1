package agent

import (
	"fmt"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// event logs one event; a logging failure has nowhere better to go.
func (a *Agent) event(kind systemd.EventKind, msg string, fields map[string]string) {
	_ = a.log.Log(systemd.Event{Kind: kind, Message: msg, Fields: fields})
}

// report logs what this tick's plan says that was not already said while it
// kept firing: recommendations (in dry-run), advice, refusals and leaks.
func (a *Agent) report(plan remediate.Plan, f advisor.Findings) {
	current := map[string]bool{}
	once := func(id string, log func()) {
		current[id] = true
		if !a.announced[id] {
			log()
		}
	}
	dryRun := a.Mode() != policies.ModeEnforce
	for _, c := range plan.Changes {
		if !dryRun {
			break
		}
		// The proposed value follows the numbers tick by tick; what is
		// announced once is the rule's wish to change the key.
		once("change:"+c.Rule+"\x00"+c.Key, func() {
			a.event(systemd.EventRecommendation,
				fmt.Sprintf("dry-run: would set %s from %q to %q (rule %s): %s", c.Key, c.From, c.To, c.Rule, c.Reason),
				a.changeFields(c, f))
		})
	}
	for _, adv := range plan.Advice {
		once("advice:"+adv.Rule, func() {
			a.event(systemd.EventRecommendation, fmt.Sprintf("advice (rule %s, %s): %s", adv.Rule, adv.Severity, adv.Message),
				map[string]string{systemd.FieldRule: adv.Rule, systemd.FieldReason: adv.Message})
		})
	}
	for _, r := range plan.Refused {
		once("refused:"+r.Rule+"\x00"+r.Key+"\x00"+r.Guardrail, func() {
			a.event(systemd.EventChangeRefused,
				fmt.Sprintf("refused %s %q -> %q (rule %s) by guardrail %s: %s", r.Key, r.From, r.To, r.Rule, r.Guardrail, r.Reason),
				map[string]string{systemd.FieldRule: r.Rule, systemd.FieldKey: r.Key, systemd.FieldOldValue: r.From,
					systemd.FieldNewValue: r.To, systemd.FieldGuardrail: r.Guardrail, systemd.FieldReason: r.Reason})
		})
	}
	// A leak is sockets that stay: CLOSE_WAIT seen once may be a server
	// between the peer's FIN and its own close().
	if cw := f.CloseWait; len(cw.ByOwner) > 0 && cw.Stuck != nil && *cw.Stuck > 0 {
		top := cw.ByOwner[0]
		once(fmt.Sprintf("leak:%d", top.PID), func() {
			a.event(systemd.EventCloseWaitLeak,
				fmt.Sprintf("CLOSE_WAIT leak: %s (pid %d, unit %s) holds %d of %d CLOSE_WAIT sockets, %+d over the window, %d stuck, remote pattern %s; an application bug no sysctl fixes",
					top.Command, top.PID, top.Unit, top.Count, cw.Count, cw.Growth, *cw.Stuck, cw.Pattern),
				map[string]string{systemd.FieldPID: fmt.Sprint(top.PID), systemd.FieldUnit: top.Unit, systemd.FieldCommand: top.Command,
					systemd.FieldReason: fmt.Sprintf("%d CLOSE_WAIT, pattern %s", cw.Count, cw.Pattern)})
		})
	}
	a.announced = current
}

// apply writes the plan and logs each change applied or failed.
func (a *Agent) apply(plan remediate.Plan, f advisor.Findings) {
	applied, failed := a.applier.Apply(a.state, plan)
	for _, c := range applied {
		a.applied++
		a.event(systemd.EventChangeApplied,
			fmt.Sprintf("set %s from %q to %q (rule %s): %s", c.Key, c.From, c.To, c.Rule, c.Reason), a.changeFields(c.Change, f))
	}
	for _, fl := range failed {
		for _, c := range fl.Changes {
			fields := a.changeFields(c, f)
			fields[systemd.FieldReason] = fl.Err.Error()
			a.event(systemd.EventChangeFailed, fmt.Sprintf("did not set %s to %q (rule %s): %v; the group was left as it was", c.Key, c.To, c.Rule, fl.Err), fields)
		}
	}
}

func (a *Agent) changeFields(c remediate.Change, f advisor.Findings) map[string]string {
	fields := map[string]string{
		systemd.FieldRule: c.Rule, systemd.FieldKey: c.Key, systemd.FieldOldValue: c.From,
		systemd.FieldNewValue: c.To, systemd.FieldReason: c.Reason, systemd.FieldMode: a.Mode(),
	}
	if w := f.Connections.Worst; w != nil {
		fields[systemd.FieldDestination] = w.Remote
		fields[systemd.FieldUtilization] = fmt.Sprintf("%.4f", w.Utilization)
	}
	return fields
}

// statusLine is the one-line summary `systemctl status` shows.
func (a *Agent) statusLine(f advisor.Findings) string {
	worst := "no destination near its limit"
	if w := f.Connections.Worst; w != nil {
		worst = fmt.Sprintf("worst %s %.1f%% of %d ports", w.Remote, w.Utilization*100, w.PortsUsable)
	} else if !f.Ports.ExhaustionPossible {
		worst = fmt.Sprintf("%d sockets hold ports, %d usable: no exhaustion possible", f.Ports.SocketsHoldingPorts, f.Ports.Usable)
	}
	return fmt.Sprintf("%s: %s; TIME_WAIT %d; CLOSE_WAIT %d; %d changes applied",
		a.Mode(), worst, f.TimeWait.Count, f.CloseWait.Count, a.applied)
}
