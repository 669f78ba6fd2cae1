package agent

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/advisor/sysctl"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/policies/judge"
	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// Session is a one-shot command's hold on the state: `apply`, `rollback`
// and `status` each open one. It keeps the sysctl.d drop-in the policy (or,
// without one, the state) names up to date.
type Session struct {
	Applier *remediate.Applier
	State   *remediate.State
	// Here is the network namespace this process runs in.
	Here advisor.Netns
	// PersistNote says why a drop-in the policy asks for is not written,
	// or is empty.
	PersistNote string
	// initial is true in the initial network namespace.
	initial bool
	// bootConfigured is true where /etc/sysctl.d configures this
	// namespace at boot: the initial namespace, or a booted container's
	// own for its services (observe.BootConfigured). The only place a
	// drop-in is written.
	bootConfigured bool
	stateDir       string
	// events receives what the session did: keys released, applied and
	// rolled back, a state moved aside, salvaged or carried over.
	events event.Sink
	// alive tells whether a network namespace a state records still
	// exists (remediate.State.CheckNamespace).
	alive remediate.Alive
}

// OpenSession loads the state under stateDir and wires the applier to the
// sysctls under paths.Sys. With a policy set, the drop-in is the policy's
// when it persists and none otherwise; without one (rollback), it is
// persistPath if given, else the one the state last wrote. A drop-in is
// only ever written from the initial network namespace: /etc/sysctl.d
// configures that namespace at boot, not a container's. Its events go to
// sink (nil: nowhere).
func OpenSession(paths observe.Paths, stateDir string, set *policies.Set, persistPath string, sink event.Sink) (*Session, error) {
	sys, err := sysctl.New(paths.Sys)
	if err != nil {
		return nil, err
	}
	here, err := netns.Current(paths.Proc, paths.Netns)
	if err != nil {
		return nil, err
	}
	s := openSession(sys, stateDir, here, netns.IsInitial(paths.Sys), sink)
	if !s.bootConfigured {
		s.bootConfigured, _ = observe.BootConfigured(paths.Proc, policies.PersistDir)
	}
	s.alive = func(id advisor.Netns) (bool, error) { return alive(paths, id) }
	switch {
	case set != nil && set.Settings.Persist:
		persistPath = set.Settings.PersistPath
	case set != nil:
		persistPath = "" // the policy does not ask for persistence
	case persistPath == "":
		persistPath = s.State.PersistPath // rollback: keep the drop-in in step
	}
	s.persistTo(persistPath)
	return s, nil
}

// openSession opens the state in dir for the network namespace here, with
// the applier wired to sys; initial tells whether here is the initial
// namespace (which /etc/sysctl.d configures at boot). Its events go to
// sink; nil, an empty Fanout, sends them nowhere.
func openSession(sys *sysctl.Tree, dir string, here advisor.Netns, initial bool, sink event.Sink) *Session {
	if sink == nil {
		sink = event.Fanout(nil)
	}
	s := &Session{Applier: &remediate.Applier{Sysctls: sys, Store: remediate.NewStore(dir), Now: time.Now},
		Here: here, initial: initial, bootConfigured: initial, stateDir: dir, events: sink}
	s.load()
	return s
}

// load reads the state file. A file that cannot be read leaves what could
// be salvaged from it (or an empty state) and Problem saying why.
func (s *Session) load() {
	st, problem := s.Applier.Store.Load()
	if problem != nil {
		st = &remediate.State{Version: remediate.StateVersion, Managed: map[string]*remediate.ManagedKey{}}
		var ce *remediate.CorruptError
		if errors.As(problem, &ce) {
			st = ce.Salvaged
		}
	}
	s.State = st
}

// reload reads the state file again, as when the session opened, and
// checks it as CheckNamespace does: a state recorded in another network
// namespace becomes the Problem, and the store refuses to write over it.
// It returns the Problem.
func (s *Session) reload() error {
	s.load()
	if s.Problem() == nil {
		if err := s.CheckNamespace(); err != nil {
			s.Applier.Store.Refuse(err)
		}
	}
	return s.Problem()
}

// Problem is why the state file could not be read, or nil: a
// *remediate.CorruptError (State then holds what was salvaged), a
// *remediate.VersionError or a read error (State is then empty), or, once
// reloaded, a *remediate.NamespaceError (State is the one read). It is
// why the store refuses to overwrite the file (Store.Blocked); Salvage
// moves a corrupt one aside.
func (s *Session) Problem() error { return s.Applier.Store.Blocked() }

// Salvage moves a corrupt state file aside (state.json.corrupt-<time>) so
// that the originals salvaged from it can be restored and a new state
// written, and says so (StateSalvaged). It returns the new name, or "" when the state file
// was fine. A state file from a newer tcp-advisor, or one that could not
// be read at all, is left where it is and its error returned.
func (s *Session) Salvage() (string, error) {
	var ce *remediate.CorruptError
	problem := s.Problem()
	if problem == nil {
		return "", nil
	}
	if !errors.As(problem, &ce) {
		return "", problem
	}
	aside, err := s.Applier.Store.MoveAside(remediate.AsideCorrupt, s.Applier.Now())
	if err != nil {
		return "", err
	}
	s.events.Emit(event.StateSalvaged{Problem: ce.Error(), Err: ce.Err, Aside: aside})
	return aside, nil
}

// persistTo points the applier at the drop-in path ("" for none), unless
// /etc/sysctl.d does not configure this network namespace at boot.
func (s *Session) persistTo(path string) {
	s.PersistNote = ""
	if path != "" && !s.bootConfigured {
		s.PersistNote = fmt.Sprintf("%s is not written: it configures the initial network namespace at boot, or a booted container's own for that container's services, and this is %s", path, s.Here)
		path = ""
	}
	s.Applier.Persist = remediate.Persister{Path: path}
}

// CheckNamespace refuses a state recorded in another network namespace
// that still exists. A state whose namespace is gone is moved aside
// (state.json.gone-<time>), journalled, and the session starts afresh:
// the values it recorded went with the namespace. Except where a drop-in
// carried them over: a state from an earlier boot of a namespace that
// /etc/sysctl.d configures at boot, whose drop-in is still there, was
// re-applied at boot and goes on.
func (s *Session) CheckNamespace() error {
	err := s.State.CheckNamespace(s.stateDir, s.Here, s.alive)
	var gone *remediate.NamespaceGoneError
	if !errors.As(err, &gone) {
		return err
	}
	if path := s.State.PersistPath; gone.OtherBoot && s.bootConfigured && path != "" && fileExists(path) {
		s.State.Namespace = &s.Here
		s.events.Emit(event.StateCarriedOver{Dir: s.stateDir, DropIn: path, File: s.Applier.Store.Path()})
		return nil
	}
	aside, merr := s.Applier.Store.MoveAside(remediate.AsideGone, s.Applier.Now())
	if merr != nil {
		return errors.Join(err, merr)
	}
	keys := s.State.Keys()
	*s.State = remediate.State{Version: remediate.StateVersion, Managed: map[string]*remediate.ManagedKey{}, Namespace: &s.Here}
	s.events.Emit(event.StateMovedAside{Reason: gone.Error(), Netns: gone.State.String(), Aside: aside, Keys: keys})
	return nil
}

// fileExists reports whether path names an existing file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// ReleaseChangedKeys releases the keys someone else changed, emitting
// each (KeyReleased).
// It refuses a state from another network namespace.
func (s *Session) ReleaseChangedKeys() ([]remediate.Released, error) {
	if err := s.CheckNamespace(); err != nil {
		return nil, err
	}
	released, err := s.Applier.ReleaseChangedKeys(s.State)
	for _, r := range released {
		s.events.Emit(keyReleased(r))
	}
	return released, err
}

// Apply applies the plan and emits each change applied or failed.
func (s *Session) Apply(plan remediate.Plan) ([]remediate.Applied, []remediate.Failure) {
	if err := s.CheckNamespace(); err != nil {
		return nil, []remediate.Failure{{Changes: plan.Changes, Err: err}}
	}
	applied, failed := s.Applier.Apply(s.State, plan)
	emitApplied(s.events, advisor.ModeEnforce, applied, failed, nil, "")
	return applied, failed
}

// Rollback restores the originals of keys (every managed key when none is
// named) and emits each restored key (RolledBack).
func (s *Session) Rollback(keys ...string) ([]remediate.Rollback, error) {
	if err := s.CheckNamespace(); err != nil {
		return nil, err
	}
	rolled, err := s.Applier.Rollback(s.State, keys...)
	for _, r := range rolled {
		s.events.Emit(event.RolledBack{Key: r.Key, From: r.From, To: r.To})
	}
	return rolled, err
}

// Status reports the state with each key's live value, and the state
// file's problem if it has one.
func (s *Session) Status(history int) remediate.Status {
	st := remediate.NewStatus(s.State, s.Applier.Sysctls, history)
	if problem := s.Problem(); problem != nil {
		st.StateProblem = problem.Error()
		var ve *remediate.VersionError
		st.StateNewer = errors.As(problem, &ve)
	}
	return st
}

// keyReleased is the event of a key someone else changed.
func keyReleased(r remediate.Released) event.KeyReleased {
	return event.KeyReleased{Key: r.Key, Expected: r.Expected, Found: r.Found}
}

// TargetStateDir is the state directory of a judged namespace below dir:
// dir itself for the namespace this process runs in (here), a directory of
// its own for any other.
func TargetStateDir(t judge.Target, dir string, here advisor.Netns) string {
	if t.NS == nil || t.NS.Inode == here.Inode {
		return dir
	}
	return remediate.NamespaceStateDir(dir, t.NS.Inode)
}

// Plan builds the plan of a judgement against the state (which may be nil).
func Plan(j judge.Judgement, set *policies.Set, st *remediate.State) remediate.Plan {
	return remediate.Planner{Set: set, State: st, Now: j.Last.Time}.Build(j.Last, j.Recs)
}

// alive reports whether the network namespace id names still exists among
// those discovery finds (named ones and those processes run in): by its
// cookie, or by its inode for an id without one. A namespace held only by
// an open file or a mount elsewhere is not found, and counts as gone.
func alive(p observe.Paths, id advisor.Netns) (bool, error) {
	nss, err := netns.NewDiscoverer(p.Proc, p.Netns).Discover()
	if err != nil {
		return false, err
	}
	for _, n := range nss {
		if id.Cookie == 0 {
			if n.Inode == id.Inode {
				return true, nil
			}
			continue
		}
		c, err := n.Cookie()
		if errors.Is(err, netns.ErrGone) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("%s: %w", n, err)
		}
		if c == id.Cookie {
			return true, nil
		}
	}
	return false, nil
}
