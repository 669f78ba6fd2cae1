package remediate

import (
	"os"
	"path/filepath"
	"strconv"
)

// namespacesDir is where, below the state directory, an agent on the host
// keeps the state of each other network namespace it changes: one
// directory per namespace inode, each with its own state file. The state
// directory's own state file is the namespace tcp-advisor runs in.
const namespacesDir = "netns"

// NamespaceStateDir returns the state directory of the network namespace
// with the given inode, below dir.
func NamespaceStateDir(dir string, inode uint64) string {
	return filepath.Join(dir, namespacesDir, strconv.FormatUint(inode, 10))
}

// NamespaceStates lists the inodes of the namespaces that have a state
// below dir.
func NamespaceStates(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(filepath.Join(dir, namespacesDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range entries {
		ino, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, namespacesDir, e.Name(), StateFile)); err == nil {
			out = append(out, ino)
		}
	}
	return out, nil
}
