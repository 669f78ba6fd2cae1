package remediate

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockWait bounds how long a process waits for another to finish its
// read-modify-write of the state: a group of changes holds the lock for
// milliseconds, so a lock held longer is a process stuck mid-write.
const lockWait = 30 * time.Second

// Lock takes the state directory's lock (flock(2) on the directory, which
// it creates if needed) and reads the state file again under it: when
// another process wrote the file since st was read or saved through this
// store, st is replaced in place by what is on disk and refreshed is true.
// Every read-modify-write of the state happens between Lock and unlock, so
// the `apply` and `rollback` commands and the agent write one at a time
// and none writes over another's records with a stale copy. Save takes
// the lock itself when it is not held.
func (s *Store) Lock(st *State) (refreshed bool, unlock func(), err error) {
	if err := s.lockDir(); err != nil {
		return false, nil, err
	}
	refreshed, err = s.Refresh(st)
	if err != nil {
		s.release()
		return false, nil, err
	}
	return refreshed, s.release, nil
}

// ErrStateChanged is a Save refused because another process wrote the
// state file since this store read it: writing would lose its records.
var ErrStateChanged = errors.New("the state file changed since it was read: another tcp-advisor process wrote it")

// lockDir takes the directory's lock, or counts one more hold of it.
func (s *Store) lockDir() error {
	if s.held > 0 {
		s.held++
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return &StoreError{Op: "create directory", Path: s.dir, Err: err}
	}
	fd, err := unix.Open(s.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &StoreError{Op: "lock", Path: s.dir, Err: err}
	}
	deadline := time.Now().Add(lockWait)
	for {
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			err = fmt.Errorf("another tcp-advisor process has held it for over %s", lockWait)
		}
		return &StoreError{Op: "lock", Path: s.dir, Err: err}
	}
	s.lockFD, s.held = fd, 1
	return nil
}

// changedOnDisk reports whether the state file differs from what this
// store last read or wrote.
func (s *Store) changedOnDisk() (bool, error) {
	b, err := s.readFile()
	if err != nil {
		return false, err
	}
	return !s.same(b), nil
}

// readFile reads the state file: nil when there is none.
func (s *Store) readFile() ([]byte, error) {
	b, err := os.ReadFile(s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &StoreError{Op: "read", Path: s.Path(), Err: err}
	}
	return b, nil
}

// same reports whether b is what this store last read or wrote.
func (s *Store) same(b []byte) bool {
	return bytes.Equal(b, s.seen) && (b == nil) == (s.seen == nil)
}

// release undoes one Lock; the last one unlocks the directory.
func (s *Store) release() {
	if s.held--; s.held == 0 {
		unix.Flock(s.lockFD, unix.LOCK_UN)
		unix.Close(s.lockFD)
	}
}

// Refresh reads the state file again and, when it differs from what this
// store last read or wrote, replaces st in place with it and reports true.
// A file that cannot be read now is a *StoreError (wrapping the
// *CorruptError or *VersionError), st is left as it was, and Save refuses
// to write until the next Load.
func (s *Store) Refresh(st *State) (bool, error) {
	b, err := s.readFile()
	if err != nil {
		return false, err
	}
	if s.same(b) {
		return false, nil
	}
	fresh := &State{Version: StateVersion, Managed: map[string]*ManagedKey{}}
	if b != nil {
		if fresh, err = ParseState(s.Path(), b); err != nil {
			// Another process left a file this one cannot read: the
			// store refuses to write until it is read again (Load).
			s.blocked = err
			return false, &StoreError{Op: "read", Path: s.Path(), Err: err}
		}
	}
	s.seen = b
	*st = *fresh
	return true, nil
}
