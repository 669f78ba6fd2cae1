package remediate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Persister keeps applied values in a sysctl.d drop-in so they survive a
// reboot. The zero value (empty Path) persists nothing.
type Persister struct {
	Path string
}

// Sync rewrites the drop-in with the values tcp-advisor manages in st, or
// removes it when there are none. It writes atomically.
func (p Persister) Sync(st *State, now time.Time) error {
	if p.Path == "" {
		return nil
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
		fmt.Fprintf(&b, "# original: %s = %s\n%s = %s\n", key, m.Original, key, m.LastWritten)
		n++
	}
	if n == 0 {
		err := os.Remove(p.Path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p.Path), 0o755); err != nil {
		return err
	}
	return WriteFileAtomic(p.Path, []byte(b.String()), 0o644)
}
