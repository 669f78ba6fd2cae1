package remediate

import (
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor/sysctl"
)

// KeyStatus is one managed key as `tcp-advisor status` shows it.
type KeyStatus struct {
	Key         string    `json:"key"`
	Original    string    `json:"original"`
	LastWritten string    `json:"last_written"`
	Live        string    `json:"live"`
	LastChange  time.Time `json:"last_change"`
	// Released is true when someone else changed the key and tcp-advisor
	// released it: it keeps their value and no longer manages the key.
	Released bool   `json:"released"`
	Why      string `json:"why,omitempty"`
}

// Status is the report of `tcp-advisor status`.
type Status struct {
	Managed     []KeyStatus `json:"managed"`
	LastChanges []Record    `json:"last_changes"`
	PersistPath string      `json:"persist_path,omitempty"`
	// StateProblem says why the state file could not be read; Managed
	// then lists what could be salvaged from it.
	StateProblem string `json:"state_problem,omitempty"`
	// StateNewer is set when a newer tcp-advisor wrote the state file:
	// this one reads nothing from it and rollback leaves it alone.
	StateNewer bool `json:"state_newer,omitempty"`
}

// NewStatus reports the state with each key's live value and the last n
// history records, newest first.
func NewStatus(st *State, sys *sysctl.Tree, n int) Status {
	s := Status{Managed: []KeyStatus{}, LastChanges: []Record{}, PersistPath: st.PersistPath}
	for _, k := range st.Keys() {
		m := st.Managed[k]
		live, err := sys.Get(k)
		if err != nil {
			live = "unreadable: " + err.Error()
		}
		s.Managed = append(s.Managed, KeyStatus{
			Key: k, Original: m.Original, LastWritten: m.LastWritten, Live: live,
			LastChange: m.LastChange, Released: m.Released, Why: m.ReleasedReason,
		})
	}
	for i := len(st.History) - 1; i >= 0 && len(s.LastChanges) < n; i-- {
		s.LastChanges = append(s.LastChanges, st.History[i])
	}
	return s
}
