package remediate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/atomicfile"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// Persister keeps applied values in a sysctl.d drop-in so they survive a
// reboot. The zero value (empty Path) persists nothing.
type Persister struct {
	Path string
	// Dir is the only directory Path may be in; empty means
	// /etc/sysctl.d (policies.PersistDir). Tests point it elsewhere.
	Dir string
}

// check refuses a drop-in path outside the sysctl.d directory, whatever
// named it (a policy, a state file, the command line), and a directory
// that is a symlink. No drop-in (an empty path) passes.
func (p Persister) check() error {
	if p.Path == "" {
		return nil
	}
	dir := p.Dir
	if dir == "" {
		dir = policies.PersistDir
	}
	if filepath.Clean(p.Path) != p.Path || filepath.Dir(p.Path) != dir {
		return fmt.Errorf("drop-in %q: tcp-advisor writes only *.conf files directly in %s", p.Path, dir)
	}
	// The name's rules are the policy's (one *.conf file).
	if err := policies.CheckPersistPath(filepath.Join(policies.PersistDir, filepath.Base(p.Path))); err != nil {
		return fmt.Errorf("drop-in %q: tcp-advisor writes only *.conf files directly in %s", p.Path, dir)
	}
	if fi, err := os.Lstat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("drop-in directory %s is not a directory (a symlink?): not writing through it", dir)
	}
	return nil
}

// Sync rewrites the drop-in with the values tcp-advisor manages in st, or
// removes it when there are none. It writes atomically: a new file renamed
// over the old name, so a symlink planted there is replaced, never
// written through. The file is 0644, as sysctl.d files are.
func (p Persister) Sync(st *State, now time.Time) error {
	if p.Path == "" {
		return nil
	}
	if err := p.check(); err != nil {
		return err
	}
	var b strings.Builder
	n := 0
	fmt.Fprintf(&b, "# Written by tcp-advisor at %s. Do not edit: tcp-advisor rewrites this\n", now.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# file when it applies a change and removes it on `tcp-advisor rollback`.\n")
	for _, key := range applyOrder(st.Keys()) {
		m := st.Managed[key]
		if m.Released {
			continue
		}
		fmt.Fprintf(&b, "# original: %s = %s\n%s = %s\n", key, oneLine(m.Original), key, oneLine(m.LastWritten))
		n++
	}
	if n == 0 {
		// Remove unlinks a symlink itself, never its target.
		err := os.Remove(p.Path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p.Path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p.Path, []byte(b.String()), 0o644)
}

// oneLine keeps a value on its line: sysctl values never hold line breaks,
// and one that did must not add a line to the drop-in.
func oneLine(v string) string { return strings.Join(strings.Fields(v), " ") }
