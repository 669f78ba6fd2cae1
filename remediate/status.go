package remediate

import (
	"fmt"
	"io"
	"slices"
	"strings"
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
	// Version is the version of the tcp-advisor reporting.
	Version     string      `json:"version"`
	Managed     []KeyStatus `json:"managed"`
	LastChanges []Record    `json:"last_changes"`
	PersistPath string      `json:"persist_path,omitempty"`
	// RolledBack are the keys whose last record is a rollback: no longer
	// managed, and what an agent does with them next.
	RolledBack []RolledBack `json:"rolled_back,omitempty"`
	// StateProblem says why the state file could not be read; Managed
	// then lists what could be salvaged from it.
	StateProblem string `json:"state_problem,omitempty"`
	// StateNewer is set when a newer tcp-advisor wrote the state file:
	// this one reads nothing from it and rollback leaves it alone.
	StateNewer bool `json:"state_newer,omitempty"`
}

// RolledBack is a key tcp-advisor rolled back and no longer manages.
type RolledBack struct {
	Record
	// Next is what a running agent does with the key: in enforce mode it
	// manages the key from the restored value, and a rule that still asks
	// changes it again once the key's cooldown since the rollback passed.
	Next string `json:"next"`
}

// afterRollback says what a running agent does with a rolled-back key.
const afterRollback = "an agent in enforce mode manages it from this value: a rule that still asks changes it again once the key's cooldown since the rollback has passed; " +
	"run the agent with --mode dry-run, or disable the rule, to keep it"

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
	for _, k := range st.rolledBack() {
		s.RolledBack = append(s.RolledBack, RolledBack{Record: k, Next: afterRollback})
	}
	for i := len(st.History) - 1; i >= 0 && len(s.LastChanges) < n; i-- {
		s.LastChanges = append(s.LastChanges, st.History[i])
	}
	return s
}

// WriteOriginals writes, in sysctl.conf form, the original value of each
// key tcp-advisor still manages (released keys keep the value someone else
// set): `sysctl -p` on the output restores them without tcp-advisor, as a
// rollback would, reserved ports last. Nothing when it manages none.
func (s Status) WriteOriginals(w io.Writer, stateDir string) error {
	var keys []string
	original := map[string]string{}
	for _, k := range s.Managed {
		if !k.Released {
			keys = append(keys, k.Key)
			original[k.Key] = k.Original
		}
	}
	if len(keys) == 0 {
		return nil
	}
	order := applyOrder(keys)
	slices.Reverse(order)
	var b strings.Builder
	fmt.Fprintf(&b, "# The original values of the sysctls tcp-advisor changed, as its state in %s\n", stateDir)
	b.WriteString("# records them. Restore them with: sysctl -p THIS-FILE (or tcp-advisor rollback).\n")
	for _, k := range order {
		fmt.Fprintf(&b, "%s = %s\n", k, oneLine(original[k]))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
