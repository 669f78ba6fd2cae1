package agent

import (
	"fmt"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
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
		next := "the agent runs in dry-run mode here and only reports what it would change"
		if enforce {
			next = fmt.Sprintf("the agent manages it from this value: in enforce mode a rule that still asks changes it again, "+
				"once %s after the rollback (the key's cooldown); to keep the original, run the agent with --mode dry-run or disable the rule",
				a.set.Guardrail(r.Key).Cooldown)
		}
		a.eventIn(w, systemd.EventChangeRolledBack,
			fmt.Sprintf("%s was rolled back from %q to its original %q by tcp-advisor rollback; %s", r.Key, r.From, r.To, next),
			map[string]string{systemd.FieldKey: r.Key, systemd.FieldOldValue: r.From, systemd.FieldNewValue: r.To,
				systemd.FieldMode: string(modeName(enforce)), systemd.FieldReason: "rollback seen by the agent"})
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
