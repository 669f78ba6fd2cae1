package remediate

import (
	"fmt"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// NamespaceError says that a state belongs to another network namespace,
// one that still exists: its originals belong there.
type NamespaceError struct {
	Dir         string
	State, Here advisor.Netns
}

func (e *NamespaceError) Error() string {
	return fmt.Sprintf("the state in %s records sysctls of network namespace %s, but this process runs in %s: "+
		"its originals belong there; run tcp-advisor inside that namespace (ip netns exec NAME, nsenter --net=/proc/PID/ns/net) or use another --state-dir",
		e.Dir, e.State, e.Here)
}

// NamespaceGoneError says that the network namespace a state records no
// longer exists: the values it recorded went with it, and nothing is left
// to restore there.
type NamespaceGoneError struct {
	Dir         string
	State, Here advisor.Netns
	// OtherBoot is set when the state was recorded on an earlier boot.
	OtherBoot bool
}

func (e *NamespaceGoneError) Error() string {
	why := "no network namespace of this boot has its cookie"
	switch {
	case e.OtherBoot:
		why = fmt.Sprintf("it was recorded on an earlier boot (boot id %s, now %s)", e.State.BootID, e.Here.BootID)
	case e.State.Cookie == 0:
		why = fmt.Sprintf("no network namespace has inode %d any more", e.State.Inode)
	}
	return fmt.Sprintf("the state in %s records network namespace %s, which no longer exists: %s; the values it changed went with it", e.Dir, e.State, why)
}

// Alive reports whether the network namespace id names still exists: one
// with its cookie on this boot or, for an id without a cookie (a state
// written before cookies were recorded), one with its inode.
type Alive func(id advisor.Netns) (bool, error)

// CheckNamespace decides whether the state belongs to here, the network
// namespace this process works in, from what the kernel gives:
//
//   - a state that records no namespace yet adopts here;
//   - cookie and boot id equal: the same namespace;
//   - another boot id: the namespace ended with that boot
//     (*NamespaceGoneError, OtherBoot);
//   - the same boot, another cookie: *NamespaceError while a namespace
//     with the recorded cookie exists (alive says; nil alive assumes it
//     does), else *NamespaceGoneError;
//   - a state without a cookie (written before they were recorded, or on
//     a kernel without them) is told by its inode alone: the same inode
//     is here, another is *NamespaceError while a namespace has it, else
//     *NamespaceGoneError.
//
// A state found to be here records here's identity from then on.
func (st *State) CheckNamespace(dir string, here advisor.Netns, alive Alive) error {
	rec := st.Namespace
	if rec == nil {
		st.Namespace = &here
		return nil
	}
	same := rec.Inode == here.Inode
	if rec.Cookie != 0 && here.Cookie != 0 {
		if rec.BootID != here.BootID {
			return &NamespaceGoneError{Dir: dir, State: *rec, Here: here, OtherBoot: true}
		}
		same = rec.Cookie == here.Cookie
	}
	if same {
		name := rec.Name
		*rec = here
		if here.Name == "" {
			rec.Name = name
		}
		return nil
	}
	exists := true
	if alive != nil {
		var err error
		if exists, err = alive(*rec); err != nil {
			return fmt.Errorf("is network namespace %s still there: %w", rec, err)
		}
	}
	if exists {
		return &NamespaceError{Dir: dir, State: *rec, Here: here}
	}
	return &NamespaceGoneError{Dir: dir, State: *rec, Here: here}
}
