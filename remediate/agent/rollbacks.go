package agent

import (
	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// newRecords returns the records of history that follow last, the newest
// record the agent had seen; all of them when it had seen none or last is
// no longer there.
func newRecords(history []remediate.Record, last *remediate.Record) []remediate.Record {
	if last == nil {
		return history
	}
	for i := len(history) - 1; i >= 0; i-- {
		if history[i] == *last {
			return history[i+1:]
		}
	}
	return history
}

// lastRecord returns the state's newest history record, or nil.
func lastRecord(st *remediate.State) *remediate.Record {
	if len(st.History) == 0 {
		return nil
	}
	r := st.History[len(st.History)-1]
	return &r
}

// noteRollbacks logs each rollback another process (`tcp-advisor
// rollback`) recorded in w's state since the agent last read it. A
// rollback is an operator's act, not an outside change: the key is no
// longer managed, and the agent goes on from the restored value — in
// enforce mode a rule that still asks changes it again, once its cooldown
// since the rollback has passed.
func (a *Agent) noteRollbacks(w *watch, enforce bool) {
	st := w.session.State
	for _, r := range newRecords(st.History, w.lastSeen) {
		if r.Action != remediate.ActionRollback {
			continue
		}
		w.sink.Emit(event.RollbackSeen{RolledBack: event.RolledBack{Key: r.Key, From: r.From, To: r.To},
			Mode: modeName(enforce), Cooldown: a.set.Guardrail(r.Key).Cooldown})
	}
	w.lastSeen = lastRecord(st)
}

// modeName is the mode a namespace is handled in.
func modeName(enforce bool) advisor.Mode {
	if enforce {
		return advisor.ModeEnforce
	}
	return advisor.ModeDryRun
}
