package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// noState reports whether dir holds no state file, neither this network
// namespace's nor one an agent on the host kept for another: tcp-advisor
// has changed nothing there. Asking creates nothing.
func noState(dir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, remediate.StateFile))
	if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	others, err := remediate.NamespaceStates(dir)
	return len(others) == 0 && err == nil, err
}
