package agent

import (
	"errors"
	"fmt"

	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// NamespaceState is the state an agent watching every namespace keeps for
// one other network namespace, and that namespace if it still exists.
type NamespaceState struct {
	Inode uint64
	// NS is the namespace; nil when it is gone.
	NS *netns.Namespace
	// Session is open on it when it exists.
	Session *Session
	// State is the recorded state (loaded even when the namespace is
	// gone, to say what cannot be restored).
	State *remediate.State
}

// NamespaceStates opens the states kept below stateDir for other network
// namespaces: a session inside each namespace that still exists, the state
// alone for each that is gone. The sessions' events go to sink (nil:
// nowhere).
func NamespaceStates(paths observe.Paths, stateDir string, sink event.Sink) ([]NamespaceState, error) {
	inodes, err := remediate.NamespaceStates(stateDir)
	if err != nil || len(inodes) == 0 {
		return nil, err
	}
	nss, err := netns.NewDiscoverer(paths.Proc, paths.Netns).Discover()
	if err != nil {
		return nil, err
	}
	var out []NamespaceState
	var errs []error
	for _, ino := range inodes {
		ns := NamespaceState{Inode: ino}
		if n, ok := netns.Find(nss, ino); ok {
			ns.NS = &n
			s, err := OpenSessionIn(ns.NS, paths, stateDir, sink)
			if err == nil {
				err = s.Problem()
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("namespace %s: %w", n, err))
				continue
			}
			ns.Session, ns.State = s, s.State
		} else {
			st, err := remediate.NewStore(remediate.NamespaceStateDir(stateDir, ino)).Load()
			if err != nil {
				errs = append(errs, fmt.Errorf("namespace net:[%d]: %w", ino, err))
				continue
			}
			ns.State = st
		}
		out = append(out, ns)
	}
	return out, errors.Join(errs...)
}

// Name names the namespace for people: as discovery names it when it
// exists, else by what its state recorded.
func (n NamespaceState) Name() string {
	if n.NS != nil {
		return n.NS.String()
	}
	if n.State != nil && n.State.Namespace != nil {
		return n.State.Namespace.String()
	}
	return fmt.Sprintf("net:[%d]", n.Inode)
}
