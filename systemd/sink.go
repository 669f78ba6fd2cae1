package systemd

import (
	"fmt"

	"github.com/tcp-advisor/tcp-advisor/advisor/event"
)

// EventLogger records journal events; *Logger is one.
type EventLogger interface {
	Log(e Event) error
}

// JournalSink is the journal's event.Sink: it logs each event it knows
// through Log, with its kind's MESSAGE_ID and fields. Events that are no
// news (a refusal repeated) and events only the metrics count are not
// logged.
type JournalSink struct {
	Log EventLogger
}

// Emit logs e; a logging failure has nowhere better to go.
func (s JournalSink) Emit(e event.Event) {
	if je, ok := journalEvent(e); ok {
		_ = s.Log.Log(je)
	}
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
