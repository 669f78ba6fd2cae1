package orchestrate

import (
	"errors"
	"fmt"
	"time"

	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// Session is a one-shot command's hold on the state: `apply`, `rollback`
// and `status` each open one. It keeps the sysctl.d drop-in the policy (or,
// without one, the state) names up to date.
type Session struct {
	Applier *remediate.Applier
	State   *remediate.State
	// Problem is why the state file could not be read, or nil: a
	// *remediate.CorruptError (State then holds what was salvaged), a
	// *remediate.VersionError or a read error (State is then empty).
	// The store refuses to overwrite such a file; Salvage moves a corrupt
	// one aside.
	Problem error
	log     Logger
}

// OpenSession loads the state under stateDir and wires the applier to the
// sysctls under sysRoot. With a policy set, the drop-in is the policy's
// when it persists and none otherwise; without one (rollback), it is
// persistPath if given, else the one the state last wrote. A nil log logs
// nothing.
func OpenSession(sysRoot, stateDir string, set *policies.Set, persistPath string, log Logger) (*Session, error) {
	sys, err := remediate.NewSysctls(sysRoot)
	if err != nil {
		return nil, err
	}
	applier := &remediate.Applier{Sysctls: sys, Store: remediate.NewStore(stateDir), Now: time.Now}
	st, problem := applier.Store.Load()
	if problem != nil {
		st = &remediate.State{Version: remediate.StateVersion, Managed: map[string]*remediate.ManagedKey{}}
		var ce *remediate.CorruptError
		if errors.As(problem, &ce) {
			st = ce.Salvaged
		}
	}
	switch {
	case set != nil && set.Settings.Persist:
		persistPath = set.Settings.PersistPath
	case set != nil:
		persistPath = "" // the policy does not ask for persistence
	case persistPath == "":
		persistPath = st.PersistPath // rollback: keep the drop-in in step
	}
	applier.Persist = remediate.Persister{Path: persistPath}
	if log == nil {
		log = discard{}
	}
	return &Session{Applier: applier, State: st, Problem: problem, log: log}, nil
}

// Salvage moves a corrupt state file aside (state.json.corrupt-<time>) so
// that the originals salvaged from it can be restored and a new state
// written, and logs it. It returns the new name, or "" when the state file
// was fine. A state file from a newer tcp-advisor, or one that could not
// be read at all, is left where it is and its error returned.
func (s *Session) Salvage() (string, error) {
	var ce *remediate.CorruptError
	if s.Problem == nil {
		return "", nil
	}
	if !errors.As(s.Problem, &ce) {
		return "", s.Problem
	}
	aside, err := s.Applier.Store.MoveAside(s.Applier.Now())
	if err != nil {
		return "", err
	}
	_ = s.log.Log(systemd.Event{
		Kind:    systemd.EventStateStore,
		Message: fmt.Sprintf("%v; moved it aside to %s and wrote a new state with what was salvaged", ce, aside),
		Fields:  map[string]string{systemd.FieldReason: ce.Err.Error(), systemd.FieldStateFile: aside},
	})
	s.Problem = nil
	return aside, nil
}

// discard is the Logger of a session that logs nothing.
type discard struct{}

func (discard) Log(systemd.Event) error { return nil }

// DetectOutsideChanges releases the keys someone else changed, logging each.
func (s *Session) DetectOutsideChanges() ([]remediate.Released, error) {
	released, err := s.Applier.DetectOutsideChanges(s.State)
	for _, r := range released {
		logOutsideChange(s.log, r)
	}
	return released, err
}

// Apply applies the plan and logs each change applied or failed.
func (s *Session) Apply(plan remediate.Plan) ([]remediate.Applied, []remediate.Failure) {
	applied, failed := s.Applier.Apply(s.State, plan)
	logApplied(s.log, policies.ModeEnforce, applied, failed, nil)
	return applied, failed
}

// Rollback restores the originals of keys (every managed key when none is
// named) and logs each restored key.
func (s *Session) Rollback(keys ...string) ([]remediate.Rollback, error) {
	rolled, err := s.Applier.Rollback(s.State, keys...)
	for _, r := range rolled {
		_ = s.log.Log(systemd.Event{
			Kind:    systemd.EventChangeRolledBack,
			Message: fmt.Sprintf("rolled back %s from %q to its original %q", r.Key, r.From, r.To),
			Fields:  map[string]string{systemd.FieldKey: r.Key, systemd.FieldOldValue: r.From, systemd.FieldNewValue: r.To},
		})
	}
	return rolled, err
}

// Status reports the state with each key's live value, and the state
// file's problem if it has one.
func (s *Session) Status(history int) remediate.Status {
	st := remediate.NewStatus(s.State, s.Applier.Sysctls, history)
	if s.Problem != nil {
		st.StateProblem = s.Problem.Error()
	}
	return st
}

func logOutsideChange(log Logger, r remediate.Released) {
	_ = log.Log(systemd.Event{
		Kind:    systemd.EventOutsideChange,
		Message: fmt.Sprintf("%s changed outside tcp-advisor to %q (tcp-advisor wrote %q); keeping it and no longer managing it", r.Key, r.Found, r.Expected),
		Fields:  map[string]string{systemd.FieldKey: r.Key, systemd.FieldOldValue: r.Expected, systemd.FieldNewValue: r.Found},
	})
}
