package agent

import (
	"maps"
	"path"
	"slices"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/advisor/record"
	"github.com/tcp-advisor/tcp-advisor/advisor/sysctl"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/policies/judge"
	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// watch is one network namespace the agent watches: how to observe it,
// its state and sysctls, its recent history and what the agent announced
// about it.
type watch struct {
	// ns is the namespace; nil for the one the agent runs in when it
	// watches that one only.
	ns      *netns.Namespace
	obs     Observer
	session *Session
	// sink receives the events of this namespace: journal and metrics.
	sink event.Sink
	// history is the window the agent judges.
	history  advisor.History
	lastDump time.Time
	// announced holds the recommendations, refusals and leaks logged while
	// they keep firing, so each is logged once, not every tick.
	announced map[string]bool
	// findings are the last tick's, for the status line; observed tells
	// whether that tick observed at all.
	findings advisor.Findings
	observed bool
	// lastSeen is the newest history record of the state the agent has
	// read, to tell the records other processes add (noteRollbacks).
	lastSeen *remediate.Record
	// health is the state store's, the keys backing off and the
	// fallbacks in use.
	health watchHealth
	// lastFailures counts the connect() calls the last tick's events
	// saw fail for lack of a port; connectFailing is set from the tick
	// the first one failed to the tick none did.
	lastFailures   uint64
	connectFailing bool
	// knownSet is the policy set whose counters the metrics hold at zero
	// for this namespace.
	knownSet *policies.Set
	// flight is the namespace's flight recorder, nil when off; level is
	// the last tick's plan level, to see a critical finding start.
	flight *record.Flight
	level  advisor.Severity
}

func newWatch(ns *netns.Namespace, obs Observer, session *Session, sinks Sinks) *watch {
	w := &watch{obs: obs, session: session, announced: map[string]bool{}, lastSeen: lastRecord(session.State),
		history: advisor.History{Recent: advisor.AgentRecent, Details: advisor.AgentDetails}}
	w.in(ns, sinks)
	return w
}

// in points w at namespace ns, whose events go to sinks(ns).
func (w *watch) in(ns *netns.Namespace, sinks Sinks) {
	w.ns, w.sink = ns, sinks(ns)
}

// name is how the status line names the namespace.
func (w *watch) name() string {
	if w.ns == nil {
		return "here"
	}
	return w.ns.String()
}

// enforceable reports whether the policy lets the agent change the
// namespace: its own when it watches no other, or one that an
// enforce_namespaces glob names — "host" for the initial namespace, the
// name `ip netns` gave it, its container's id (whole or the usual 12-digit
// prefix) or its pod's UID.
func enforceable(ns *netns.Namespace, globs []string) bool {
	if ns == nil {
		return true
	}
	var names []string
	if ns.Host {
		names = append(names, "host")
	}
	if ns.Name != "" {
		names = append(names, ns.Name)
	}
	if c := ns.Container; c != nil {
		if c.ID != "" {
			names = append(names, c.ID, c.ID[:min(12, len(c.ID))])
		}
		if c.PodUID != "" {
			names = append(names, c.PodUID)
		}
	}
	for _, g := range globs {
		for _, n := range names {
			if ok, _ := path.Match(g, n); ok {
				return true
			}
		}
	}
	return false
}

// discover brings the watches in line with the host's namespaces: a new
// namespace gets a watch (with its own state directory), one that is gone
// is dropped, the others get the discovery's latest names and holders. The
// namespace the agent runs in keeps its watch and the agent's own state.
func (a *Agent) discover() error {
	nss, err := a.discoverer.Discover()
	if err != nil {
		return err
	}
	seen := map[uint64]bool{}
	for _, n := range nss {
		seen[n.Inode] = true
		w := a.watches[n.Inode]
		if w == nil {
			if w, err = a.newNamespaceWatch(n); err != nil {
				a.sink.Emit(event.NamespaceNotWatched{Netns: n.String(), Err: err})
				continue
			}
			a.watches[n.Inode] = w
		}
		*w.ns = n
	}
	for ino := range a.watches {
		if !seen[ino] {
			delete(a.watches, ino)
		}
	}
	return nil
}

// newNamespaceWatch starts watching namespace n: the agent's own watch,
// now told its namespace, for the namespace it runs in, otherwise sysctls
// entered through n and a state directory of its own.
func (a *Agent) newNamespaceWatch(n netns.Namespace) (*watch, error) {
	ns := new(netns.Namespace)
	*ns = n
	if n.Inode == a.own.session.Here.Inode {
		a.own.in(ns, a.sinks)
		return a.own, nil
	}
	s, err := OpenSessionIn(ns, a.cfg.Paths, a.cfg.StateDir, a.sink)
	if err != nil {
		return nil, err
	}
	if err := s.CheckNamespace(); err != nil {
		return nil, err
	}
	// The namespace's detail dump, due every DetailEvery, walks the
	// host's whole shared socket table: it is taken only where a rule
	// asks for it (or the pre-check calls for the whole table).
	obs := a.cfg.Paths.ObserverIn(ns)
	obs.SetAsker(judge.RulesAsk(func() *policies.Set { return a.set }))
	w := newWatch(ns, obs, s, a.sinks)
	a.fly(w)
	a.stateProblem(w)
	return w, nil
}

// targets returns the watches of this tick, host first, then by name and
// inode as discovery orders them.
func (a *Agent) targets() []*watch {
	if !a.cfg.AllNamespaces {
		return []*watch{a.own}
	}
	if err := a.discover(); err != nil {
		a.sink.Emit(event.DiscoveryFailed{Err: err})
	}
	ws := slices.Collect(maps.Values(a.watches))
	slices.SortFunc(ws, func(x, y *watch) int { return netns.Compare(*x.ns, *y.ns) })
	return ws
}

// OpenSessionIn opens the state of namespace ns below stateDir (a directory
// of its own, see remediate.NamespaceStateDir) with its sysctls read and
// written inside it. A state file that cannot be read is the session's
// Problem, as with OpenSession. A drop-in is never written for it unless it
// is the initial namespace.
// Its events go to sink (nil: nowhere).
func OpenSessionIn(ns *netns.Namespace, paths observe.Paths, stateDir string, sink event.Sink) (*Session, error) {
	sys, err := sysctl.NewIn(ns, paths.Sys)
	if err != nil {
		return nil, err
	}
	// A namespace that cannot be entered for its cookie cannot be written
	// either: its state is told by its inode alone.
	here := advisor.Netns{Inode: ns.Inode, Name: ns.Name}
	if id, err := netns.Identify(here, paths.Proc, ns.Cookie); err == nil {
		here = id
	}
	s := openSession(sys, remediate.NamespaceStateDir(stateDir, ns.Inode), here, ns.Host, sink)
	s.alive = func(id advisor.Netns) (bool, error) { return alive(paths, id) }
	s.persistTo("")
	return s, nil
}
