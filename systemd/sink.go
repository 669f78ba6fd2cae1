package systemd

import (
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
)

// EventLogger records journal events; *Logger is one.
type EventLogger interface {
	Log(e Event) error
}

// JournalSink is the journal's event.Sink: it logs each event it knows
// through Log, with its kind's MESSAGE_ID and fields. Events that are no
// news (a refusal repeated, a tick that went well) and events only the
// metrics count are not logged.
type JournalSink struct {
	Log EventLogger
	// Netns, when set and not the host's, is the network namespace the
	// events are about: each entry names it (and its container) in its
	// fields and message, so `journalctl NETNS=...` finds them.
	Netns *netns.Namespace
}

// Emit logs e; a logging failure has nowhere better to go.
func (s JournalSink) Emit(e event.Event) {
	if r, ok := e.(event.PolicyRejected); ok {
		for _, p := range r.Problems {
			s.log(policyEvent(p, "policy rejected, previous policy stays in force: ", ""))
		}
		return
	}
	if je, ok := journalEvent(e); ok {
		s.log(je)
	}
}

// log logs je, naming the sink's namespace.
func (s JournalSink) log(je Event) {
	if ns := s.Netns; ns != nil && !ns.Host {
		je = inNamespace(je, ns)
	}
	_ = s.Log.Log(je)
}

// inNamespace is the entry je in namespace ns: its fields name the
// namespace and its container, and its message starts with the namespace.
func inNamespace(je Event, ns *netns.Namespace) Event {
	fields := maps.Clone(je.Fields)
	if fields == nil {
		fields = map[string]string{}
	}
	fields[FieldNetns] = ns.String()
	fields[FieldNetnsInode] = fmt.Sprint(ns.Inode)
	if c := ns.Container; c != nil {
		fields[FieldContainer] = c.String()
	}
	je.Fields = fields
	je.Message = fmt.Sprintf("[netns %s] %s", ns, je.Message)
	return je
}

// policyEvent is the journal entry of a policy problem: where it is, what
// it did (a policy rejected, a rule skipped) and what is wrong; recording,
// if set, names the flight recording.
func policyEvent(p event.PolicyProblem, did, recording string) Event {
	where := ""
	fields := map[string]string{FieldReason: p.Summary + ": " + p.Detail}
	if p.File != "" {
		where = fmt.Sprintf("%s:%d:%d: ", p.File, p.Line, p.Column)
		fields[FieldPolicyFile] = p.File
		fields[FieldPolicyLine] = fmt.Sprint(p.Line)
	}
	if recording != "" {
		fields[FieldRecording] = recording
	}
	return Event{Kind: EventPolicyRejected, Fields: fields, Message: where + did + p.Summary + ": " + p.Detail}
}

// journalEvent is the journal entry of e, if it has one.
func journalEvent(e event.Event) (Event, bool) {
	switch e := e.(type) {
	case event.ChangeApplied:
		return withPlatform(Event{Kind: EventChangeApplied,
			Message: fmt.Sprintf("set %s from %q to %q (rule %s): %s", e.Key, e.From, e.To, e.Rule, e.Reason),
			Fields:  changeFields(e.Change, e.Context)}, e.Platform), true
	case event.ChangeFailed:
		fields := changeFields(e.Change, e.Context)
		fields[FieldReason] = e.Err.Error()
		if e.AfterWrite {
			return Event{Kind: EventChangeFailed,
				Message: fmt.Sprintf("%s is %q as planned, but %v", e.Key, e.To, e.Err), Fields: fields}, true
		}
		if e.Errno != "" {
			fields[FieldErrno] = e.Errno
		}
		return Event{Kind: EventChangeFailed,
			Message: fmt.Sprintf("did not set %s to %q (rule %s): %v; the group was left as it was", e.Key, e.To, e.Rule, e.Err),
			Fields:  fields}, true
	case event.ChangeRecommended:
		return withPlatform(Event{Kind: EventRecommendation,
			Message: fmt.Sprintf("dry-run: would set %s from %q to %q (rule %s): %s", e.Key, e.From, e.To, e.Rule, e.Reason),
			Fields:  changeFields(e.Change, e.Context)}, e.Platform), true
	case event.AdviceGiven:
		fields := map[string]string{FieldRule: e.Rule, FieldReason: e.Message}
		if e.Recording != "" {
			fields[FieldRecording] = e.Recording
		}
		return Event{Kind: EventRecommendation, Fields: fields,
			Message: fmt.Sprintf("advice (rule %s, %s): %s", e.Rule, e.Severity, e.Message)}, true
	case event.ObservationDegraded:
		return Event{Kind: EventObservationDegraded, Message: "observation degraded: " + e.Fallback,
			Fields: map[string]string{FieldReason: e.Fallback}}, true
	case event.ObservationRecovered:
		return Event{Kind: EventObservationDegraded, Priority: PriorityNotice,
			Message: "observation works fully again (was: " + strings.Join(e.Was, "; ") + ")",
			Fields:  map[string]string{FieldReason: "recovered"}}, true
	case event.StoreFailing:
		msg := fmt.Sprintf("state store failing: %v; nothing is applied until it works again (retrying in %s, then less and less often, up to every %s); observing goes on", e.Err, e.Retry, e.MaxRetry)
		if e.What != "" {
			msg += "; " + e.What
		}
		return Event{Kind: EventStateStore, Message: msg, Fields: map[string]string{FieldReason: e.Err.Error(), FieldStateFile: e.File}}, true
	case event.StoreRecovered:
		return Event{Kind: EventStateStore, Priority: PriorityNotice,
			Message: "state store works again: " + e.File + " can be written; applying resumes",
			Fields:  map[string]string{FieldReason: "recovered from: " + e.Was.Error(), FieldStateFile: e.File}}, true
	case event.RuleSkipped:
		return policyEvent(e.Problem, "rule skipped, the others still run: ", e.Recording), true
	case event.CloseWaitLeak:
		top := e.Top
		fields := map[string]string{FieldPID: fmt.Sprint(top.PID), FieldUnit: top.Unit, FieldCommand: top.Command,
			FieldReason: fmt.Sprintf("%d CLOSE_WAIT, pattern %s", e.Total, e.Pattern)}
		if e.Recording != "" {
			fields[FieldRecording] = e.Recording
		}
		return Event{Kind: EventCloseWaitLeak, Fields: fields,
			Message: fmt.Sprintf("CLOSE_WAIT leak: %s (pid %d, unit %s) holds %d of %d CLOSE_WAIT sockets, %+d over the window, %d stuck, remote pattern %s; an application bug no sysctl fixes",
				top.Command, top.PID, top.Unit, top.Count, e.Total, e.Growth, e.Stuck, e.Pattern)}, true
	case event.AgentStarted:
		return Event{Kind: EventAgentStarted, Message: fmt.Sprintf("tcp-advisor %s running in %s mode, every %s", e.Version, e.Mode, e.Interval),
			Fields: map[string]string{FieldMode: string(e.Mode), FieldVersion: e.Version}}, true
	case event.AgentStopping:
		return Event{Kind: EventAgentStopped, Message: "tcp-advisor stopping; applied settings stay as they are (rollback is an explicit command)"}, true
	case event.MetricsFailing:
		return Event{Kind: EventMetricsFailed, Message: "metrics not written: " + e.Err.Error(), Fields: map[string]string{FieldReason: e.Err.Error()}}, true
	case event.MetricsRecovered:
		return Event{Kind: EventMetricsFailed, Priority: PriorityInfo, Message: "metrics written again"}, true
	case event.TickDone:
		if e.Err == nil {
			return Event{}, false
		}
		return Event{Kind: EventObservationFailed, Message: "observation failed: " + e.Err.Error()}, true
	case event.PolicyLoaded:
		return Event{Kind: EventPolicyLoaded,
			Message: fmt.Sprintf("policy loaded: %s, checksum %s; the agent runs in %s mode", e.Description, e.Checksum, e.Mode),
			Fields: map[string]string{FieldMode: string(e.Mode), FieldPolicyFile: strings.Join(e.Files, ","),
				FieldPolicyChecksum: e.Checksum}}, true
	case event.Reloaded:
		fields := map[string]string{FieldMode: string(e.Mode)}
		if e.Err != nil {
			// The agent goes on with the old policy, not the one the
			// operator just asked for: that is an error to see.
			return Event{Kind: EventReloaded, Priority: PriorityErr, Fields: fields,
				Message: "reload failed, previous policy stays in force: " + e.Err.Error()}, true
		}
		return Event{Kind: EventReloaded, Fields: fields, Message: "reload finished: policy in force is " + e.Policy}, true
	case event.ConnectFailuresStarted:
		return connectFailuresStarted(e), true
	case event.ConnectFailuresStopped:
		reason := fmt.Sprintf("no connect() call failed for lack of a port in the last %.0f s", e.Window.Seconds())
		return Event{Kind: EventConnectFailures, Priority: PriorityNotice,
			Message: "connect() failures stopped: " + reason, Fields: map[string]string{FieldReason: reason}}, true
	case event.RolledBack:
		return Event{Kind: EventChangeRolledBack,
			Message: fmt.Sprintf("rolled back %s from %q to its original %q", e.Key, e.From, e.To),
			Fields:  keyFields(e.Key, e.From, e.To)}, true
	case event.RollbackSeen:
		next := "the agent runs in dry-run mode here and only reports what it would change"
		if e.Mode == advisor.ModeEnforce {
			next = fmt.Sprintf("the agent manages it from this value: in enforce mode a rule that still asks changes it again, "+
				"once %s after the rollback (the key's cooldown); to keep the original, run the agent with --mode dry-run or disable the rule",
				e.Cooldown)
		}
		fields := keyFields(e.Key, e.From, e.To)
		fields[FieldMode], fields[FieldReason] = string(e.Mode), "rollback seen by the agent"
		return Event{Kind: EventChangeRolledBack, Fields: fields,
			Message: fmt.Sprintf("%s was rolled back from %q to its original %q by tcp-advisor rollback; %s", e.Key, e.From, e.To, next)}, true
	case event.KeyReleased:
		return Event{Kind: EventKeyReleased,
			Message: fmt.Sprintf("%s changed outside tcp-advisor to %q (tcp-advisor wrote %q); keeping it and no longer managing it", e.Key, e.Found, e.Expected),
			Fields:  keyFields(e.Key, e.Expected, e.Found)}, true
	case event.StateMovedAside:
		managed := "none"
		if len(e.Keys) > 0 {
			managed = strings.Join(e.Keys, ", ")
		}
		return Event{Kind: EventStateMovedAside,
			Message: fmt.Sprintf("%s; moved it aside to %s and started a new state (it managed: %s)", e.Reason, e.Aside, managed),
			Fields:  map[string]string{FieldReason: e.Reason, FieldStateFile: e.Aside, FieldNetns: e.Netns}}, true
	case event.ChangeRefused:
		if e.Repeated {
			return Event{}, false
		}
		fields := map[string]string{FieldRule: e.Rule, FieldKey: e.Key, FieldOldValue: e.From,
			FieldNewValue: e.To, FieldGuardrail: e.Guardrail, FieldReason: e.Reason}
		if e.Recording != "" {
			fields[FieldRecording] = e.Recording
		}
		return Event{Kind: EventChangeRefused,
			Message: fmt.Sprintf("refused %s %q -> %q (rule %s) by guardrail %s (%s, %s): %s", e.Key, e.From, e.To, e.Rule, e.Guardrail, e.Bound, e.Source, e.Reason),
			Fields:  fields}, true
	}
	return agentEvent(e)
}

// agentEvent is the journal entry of e, one of the agent's own troubles
// and notes, if it has one.
func agentEvent(e event.Event) (Event, bool) {
	switch e := e.(type) {
	case event.PolicyWarning:
		return Event{Kind: EventPolicyLoaded, Priority: PriorityWarning, Message: "policy warning: " + e.Summary + ": " + e.Detail,
			Fields: map[string]string{FieldReason: e.Detail}}, true
	case event.PersistNotWritten:
		return Event{Kind: EventPolicyLoaded, Priority: PriorityWarning, Message: "policy asks for persistence: " + e.Why}, true
	case event.EnforceRefused:
		return Event{Kind: EventPolicyRejected, Message: "policy rejected, previous policy stays in force: " + e.Error(),
			Fields: map[string]string{FieldMode: string(e.Mode), FieldReason: e.Err.Error()}}, true
	case event.ManagedKeysUnchecked:
		return Event{Kind: EventChangeFailed, Message: "checking managed keys: " + e.Err.Error()}, true
	case event.NamespaceNotWatched:
		return Event{Kind: EventObservationFailed, Message: fmt.Sprintf("network namespace %s not watched: %v", e.Netns, e.Err)}, true
	case event.DiscoveryFailed:
		return Event{Kind: EventObservationFailed, Message: "discovering network namespaces: " + e.Err.Error()}, true
	case event.FlightRecorderFailing:
		return Event{Kind: EventStateStore, Priority: PriorityWarning, Message: "flight recorder cannot keep frames: " + e.Err.Error(),
			Fields: map[string]string{FieldReason: e.Err.Error(), FieldStateFile: e.Dir}}, true
	case event.FlightRecorderRecovered:
		return Event{Kind: EventStateStore, Message: "flight recorder keeps frames again in " + e.Dir}, true
	case event.RecordingFailed:
		return Event{Kind: EventStateStore, Priority: PriorityWarning, Message: fmt.Sprintf("flight recorder: no recording of the %s: %v", e.For, e.Err),
			Fields: map[string]string{FieldReason: e.Err.Error(), FieldStateFile: e.Dir}}, true
	case event.StateSalvaged:
		return Event{Kind: EventStateStore, Message: e.Problem + "; moved it aside to " + e.Aside + " and wrote a new state with what was salvaged",
			Fields: map[string]string{FieldReason: e.Err.Error(), FieldStateFile: e.Aside}}, true
	case event.StateCarriedOver:
		return Event{Kind: EventStateStore, Priority: PriorityNotice,
			Message: fmt.Sprintf("the state in %s was recorded on an earlier boot; %s re-applied its values at this boot, so tcp-advisor goes on managing them", e.Dir, e.DropIn),
			Fields:  map[string]string{FieldReason: "carried over a reboot by " + e.DropIn, FieldStateFile: e.File}}, true
	}
	return Event{}, false
}

// withPlatform adds to the entry of a change made or proposed in a
// container's namespace how its platform keeps it: the change is lost with
// the container otherwise.
func withPlatform(je Event, platform string) Event {
	if platform == "" {
		return je
	}
	je.Fields[FieldPlatform] = platform
	je.Message += "; " + platform
	return je
}

// changeFields are the journal fields of a change in its context.
func changeFields(c event.Change, ctx event.Context) map[string]string {
	fields := map[string]string{
		FieldRule: c.Rule, FieldKey: c.Key, FieldOldValue: c.From,
		FieldNewValue: c.To, FieldReason: c.Reason, FieldMode: string(ctx.Mode),
	}
	if w := ctx.Worst; w != nil {
		fields[FieldDestination] = w.Remote
		fields[FieldUtilization] = fmt.Sprintf("%.4f", w.Utilization)
	}
	if ctx.Recording != "" {
		fields[FieldRecording] = ctx.Recording
	}
	return fields
}

// connectFailuresStarted is the journal entry of connect() failures that
// started, naming the flow that failed most.
func connectFailuresStarted(e event.ConnectFailuresStarted) Event {
	reason := fmt.Sprintf("%d connect() calls found no local port in the last %.0f s", e.Failures, e.Window.Seconds())
	fields := map[string]string{FieldConnectFailures: strconv.FormatUint(e.Failures, 10)}
	if f := e.Worst; f.Failures > 0 {
		owner := fmt.Sprintf("%s (pid %d)", f.Command, f.PID)
		if f.Unit != "" {
			owner = fmt.Sprintf("%s (pid %d, unit %s)", f.Command, f.PID, f.Unit)
		}
		reason += fmt.Sprintf(", %d of them %s -> %s by %s", f.Failures, f.Local, f.Remote, owner)
		fields[FieldDestination] = f.Remote.String()
		fields[FieldCommand] = f.Command
		fields[FieldPID] = strconv.Itoa(f.PID)
		if f.Unit != "" {
			fields[FieldUnit] = f.Unit
		}
	}
	fields[FieldReason] = reason
	return Event{Kind: EventConnectFailures, Message: "connect() failures started: " + reason, Fields: fields}
}

// keyFields are the journal fields of a key that went from one value to
// another.
func keyFields(key, from, to string) map[string]string {
	return map[string]string{FieldKey: key, FieldOldValue: from, FieldNewValue: to}
}
