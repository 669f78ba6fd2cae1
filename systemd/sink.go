package systemd

import (
	"fmt"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/advisor/event"
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
}

// Emit logs e; a logging failure has nowhere better to go.
func (s JournalSink) Emit(e event.Event) {
	if r, ok := e.(event.PolicyRejected); ok {
		for _, p := range r.Problems {
			_ = s.Log.Log(policyRejected(p))
		}
		return
	}
	if je, ok := journalEvent(e); ok {
		_ = s.Log.Log(je)
	}
}

// policyRejected is the journal entry of one error of a rejected policy.
func policyRejected(p event.PolicyProblem) Event {
	where := ""
	fields := map[string]string{FieldReason: p.Summary + ": " + p.Detail}
	if p.File != "" {
		where = fmt.Sprintf("%s:%d:%d: ", p.File, p.Line, p.Column)
		fields[FieldPolicyFile] = p.File
		fields[FieldPolicyLine] = fmt.Sprint(p.Line)
	}
	return Event{Kind: EventPolicyRejected, Fields: fields,
		Message: where + "policy rejected, previous policy stays in force: " + p.Summary + ": " + p.Detail}
}

// journalEvent is the journal entry of e, if it has one.
func journalEvent(e event.Event) (Event, bool) {
	switch e := e.(type) {
	case event.ChangeApplied:
		return Event{Kind: EventChangeApplied,
			Message: fmt.Sprintf("set %s from %q to %q (rule %s): %s", e.Key, e.From, e.To, e.Rule, e.Reason),
			Fields:  changeFields(e.Change, e.Context)}, true
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
	return Event{}, false
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
