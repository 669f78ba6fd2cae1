package remediate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CheckWritable reports whether this process may write each of keys, in
// the Sysctls' network namespace, without writing any: it opens each key's
// file for writing and closes it. The kernel checks the permission to write
// a sysctl when its file is opened (file mode, CAP_NET_ADMIN over the
// namespace's owner for net.*, a read-only /proc/sys), so an agent that
// would fail every write learns it before the first. Keys missing here are
// skipped: planning refuses them anyway.
func (s *Sysctls) CheckWritable(keys ...string) error {
	check := func() error {
		var errs []error
		for _, key := range keys {
			path := filepath.Join(s.root, strings.ReplaceAll(key, ".", "/"))
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
				continue
			}
			f.Close()
		}
		return errors.Join(errs...)
	}
	if s.ns == nil {
		return check()
	}
	return s.ns.Do(check)
}
