package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// WriteAccessError lists the sysctls this process may not write, with the
// error of the first.
type WriteAccessError struct {
	Keys []string
	Err  error
}

func (e *WriteAccessError) Error() string {
	keys := e.Keys[0]
	if n := len(e.Keys); n > 1 {
		keys = strings.Join(e.Keys[:n-1], ", ") + " and " + e.Keys[n-1]
	}
	return fmt.Sprintf("cannot write %s (%v)", keys, e.Err)
}

// Unwrap returns the first key's error.
func (e *WriteAccessError) Unwrap() error { return e.Err }

// CheckWritable reports whether this process may write each of keys, in
// the tree's network namespace, without writing any: it opens each key's
// file for writing, as set does (not following a symlink), and closes it.
// The kernel checks the permission to write a sysctl when its file is
// opened (file mode, CAP_NET_ADMIN over the namespace's owner for net.*, a
// read-only /proc/sys), so an agent that would fail every write learns it
// before the first. Keys missing here are skipped: planning refuses them
// anyway. The error is a *WriteAccessError.
func (s *Tree) CheckWritable(keys ...string) error {
	return s.do(func() error {
		var denied WriteAccessError
		for _, key := range keys {
			f, err := os.OpenFile(s.path(key), os.O_WRONLY|unix.O_NOFOLLOW, 0)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				denied.Keys = append(denied.Keys, key)
				if denied.Err == nil {
					denied.Err = err
				}
				continue
			}
			f.Close()
		}
		if len(denied.Keys) > 0 {
			return &denied
		}
		return nil
	})
}
