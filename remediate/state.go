package remediate

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/internal/atomicfile"
)

// StateFile is the name of the state file inside the state directory.
const StateFile = "state.json"

// maxHistory bounds the change history kept in the state file.
const maxHistory = 1000

// StateVersion is the version of the state file this tcp-advisor writes and
// understands. A file without a version is version 1; a file with a newer
// version is refused rather than misread.
const StateVersion = 1

// State is what tcp-advisor remembers across runs: the keys it manages, their
// original values, and every change it made.
type State struct {
	Version int `json:"version"`
	// Namespace is the network namespace whose sysctls the state records:
	// the originals belong there and nowhere else. Nil until the first
	// change is recorded.
	Namespace *advisor.Netns         `json:"namespace,omitempty"`
	Managed   map[string]*ManagedKey `json:"managed"`
	History   []Record               `json:"history"`
	// PersistPath is the sysctl.d drop-in last written, so a rollback
	// without the policy at hand can rewrite it.
	PersistPath string `json:"persist_path,omitempty"`
}

// ManagedKey is one sysctl tcp-advisor has changed.
type ManagedKey struct {
	// Original is the value before tcp-advisor's first change.
	Original string `json:"original"`
	// LastWritten is the value tcp-advisor last wrote.
	LastWritten string `json:"last_written"`
	// Pending is the value being written: saved before the write and
	// cleared after it, so a crash in between is not mistaken for someone
	// else's change.
	Pending    string    `json:"pending,omitempty"`
	LastChange time.Time `json:"last_change"`
	// Direction is +1 if the last change raised the value, -1 if it
	// lowered it; hysteresis refuses a change the other way.
	Direction int `json:"direction"`
	// Released is set when someone else changed the key: tcp-advisor keeps
	// their value and no longer manages it.
	Released       bool      `json:"released,omitempty"`
	ReleasedAt     time.Time `json:"released_at,omitzero"`
	ReleasedReason string    `json:"released_reason,omitempty"`
}

// Record is one entry of the change history.
type Record struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"` // "apply" | "rollback" | "release"
	Key    string    `json:"key"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Rule   string    `json:"rule,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// The history actions.
const (
	ActionApply    = "apply"
	ActionRollback = "rollback"
	ActionRelease  = "release"
)

// Store keeps State in a directory, written atomically: a crash at any moment
// leaves either the old file or the new one, never a torn one.
type Store struct {
	dir string
	// blocked is the *CorruptError or *VersionError of the last Load, or
	// what Refuse was given: a file tcp-advisor cannot read, or must not
	// write over, is never overwritten. MoveAside clears a CorruptError.
	blocked error
	// seen is the file as last read or written (nil: none), to tell
	// another process's write from this store's own.
	seen []byte
	// lockFD is the locked directory while held > 0 (see Lock).
	lockFD int
	held   int
}

// NewStore returns a store in dir; the directory is created on first save.
func NewStore(dir string) *Store { return &Store{dir: dir} }

// Load reads the state; a missing file is an empty state. A file that does
// not parse is a *CorruptError holding what could be salvaged from it; a
// file from a newer tcp-advisor is a *VersionError.
func (s *Store) Load() (*State, error) {
	path := s.Path()
	s.blocked = nil
	b, err := s.readFile()
	if err != nil {
		s.blocked = err
		return nil, s.blocked
	}
	s.seen = b
	if b == nil {
		return &State{Version: StateVersion, Managed: map[string]*ManagedKey{}}, nil
	}
	// ParseState fails only with a *CorruptError or a *VersionError.
	st, err := ParseState(path, b)
	s.blocked = err
	return st, err
}

// Blocked returns why Save refuses to write, or nil: the state file could
// not be read (*CorruptError, *VersionError, or a read error as a
// *StoreError) and has not been moved aside, or it was refused.
func (s *Store) Blocked() error { return s.blocked }

// Refuse makes Save refuse to write, with err as the reason, until the next
// Load: the state file read is not one to write over, such as a state
// recorded in another network namespace (a *NamespaceError).
func (s *Store) Refuse(err error) { s.blocked = err }

// Path returns the state file's path.
func (s *Store) Path() string { return filepath.Join(s.dir, StateFile) }

// Save writes the state atomically, readable by its owner and group only
// (0640, in a 0750 directory). The state file names no secret, but it is
// the only record of the host's original values: nobody else may replace
// it. Outside Lock, Save takes the lock for the write and refuses
// (ErrStateChanged) when another process wrote the file since this store
// read it.
func (s *Store) Save(st *State) error {
	if len(st.History) > maxHistory {
		st.History = st.History[len(st.History)-maxHistory:]
	}
	if s.blocked != nil {
		return &StoreError{Op: "write", Path: s.Path(), Err: fmt.Errorf("refusing to overwrite a state file tcp-advisor cannot read: %w", s.blocked)}
	}
	if s.held == 0 {
		if err := s.lockDir(); err != nil {
			return err
		}
		defer s.release()
		changed, err := s.changedOnDisk()
		if err != nil {
			return err
		}
		if changed {
			return &StoreError{Op: "write", Path: s.Path(), Err: ErrStateChanged}
		}
	}
	st.Version = StateVersion
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return &StoreError{Op: "encode", Path: s.Path(), Err: err}
	}
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return &StoreError{Op: "create directory", Path: s.dir, Err: err}
	}
	// Temporary files a crash left behind are stale: only one process
	// writes the state at a time (it holds the lock).
	if stale, err := filepath.Glob(filepath.Join(s.dir, "."+StateFile+".tmp-*")); err == nil {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	b = append(b, '\n')
	if err := writeFile(s.Path(), b, 0o640); err != nil {
		return &StoreError{Op: "write", Path: s.Path(), Err: err}
	}
	s.seen = b
	return nil
}

// The reasons a state file is moved aside, which end its new name.
const (
	// AsideCorrupt: the file does not parse.
	AsideCorrupt = "corrupt"
	// AsideGone: the network namespace it records no longer exists.
	AsideGone = "gone"
)

// MoveAside renames the state file to state.json.<why>-<UTC time> in the
// same directory (why is AsideCorrupt or AsideGone), so that a new state
// can be written without destroying whatever an operator may still
// recover from the old one. It returns the new name.
func (s *Store) MoveAside(why string, now time.Time) (string, error) {
	if err := s.lockDir(); err != nil {
		return "", err
	}
	defer s.release()
	aside := s.Path() + "." + why + "-" + now.UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(s.Path(), aside); err != nil {
		return "", &StoreError{Op: "move aside", Path: s.Path(), Err: err}
	}
	s.seen = nil
	var ve *VersionError
	if !errors.As(s.blocked, &ve) {
		s.blocked = nil
	}
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return aside, nil
}

// StoreError is a state file that could not be written: the directory is
// missing and cannot be made, read-only, or full. No change is applied
// that could not first be recorded, so a StoreError before a write means
// the kernel was left alone.
type StoreError struct {
	Op   string // "write", "create directory", "move aside", "encode"
	Path string
	Err  error
}

func (e *StoreError) Error() string {
	return fmt.Sprintf("state store: %s %s: %v", e.Op, e.Path, e.Err)
}

// Unwrap returns the underlying error.
func (e *StoreError) Unwrap() error { return e.Err }

// writeFile is atomicfile.WriteFile; tests replace it to stop a save as a
// crash would.
var writeFile = atomicfile.WriteFile

// Keys returns the managed keys in name order.
func (st *State) Keys() []string {
	keys := make([]string, 0, len(st.Managed))
	for k := range st.Managed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Active reports whether tcp-advisor manages key and has not released it.
func (st *State) Active(key string) (*ManagedKey, bool) {
	m, ok := st.Managed[key]
	return m, ok && !m.Released
}

// lastChange returns when tcp-advisor last changed key, and how: its last
// write while it manages the key, else the rollback that ended managing
// it; ok is false when neither is recorded.
func (st *State) lastChange(key string) (when time.Time, what string, ok bool) {
	if m, managed := st.Managed[key]; managed {
		return m.LastChange, "last changed", true
	}
	for i := len(st.History) - 1; i >= 0; i-- {
		if r := st.History[i]; r.Key == key {
			return r.Time, "rolled back", r.Action == ActionRollback
		}
	}
	return time.Time{}, "", false
}

// rolledBack returns, in key order, the last record of each key whose last
// record is a rollback and that is not managed.
func (st *State) rolledBack() []Record {
	last := map[string]Record{}
	for _, r := range st.History {
		last[r.Key] = r
	}
	var out []Record
	for _, k := range slices.Sorted(maps.Keys(last)) {
		if _, managed := st.Managed[k]; !managed && last[k].Action == ActionRollback {
			out = append(out, last[k])
		}
	}
	return out
}

// anyActive reports whether any key is managed and not released.
func (st *State) anyActive() bool {
	for _, m := range st.Managed {
		if !m.Released {
			return true
		}
	}
	return false
}
