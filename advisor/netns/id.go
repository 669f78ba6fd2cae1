package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// NamedDir is where `ip netns add` names network namespaces.
const NamedDir = "/run/netns"

// Current identifies the network namespace this process runs in: the
// inode of procRoot/self/ns/net, its name when a file in netnsDir is a
// mount of the same namespace, its cookie and the boot id.
func Current(procRoot, netnsDir string) (advisor.Netns, error) {
	ino, err := InodeOf(filepath.Join(procRoot, "self", "ns", "net"))
	if err != nil {
		return advisor.Netns{}, fmt.Errorf("network namespace: %w", err)
	}
	return Identify(advisor.Netns{Inode: ino, Name: nameOf(netnsDir, ino)}, procRoot, ThreadCookie)
}

// InodeOf returns the inode of a namespace file such as /proc/self/ns/net.
func InodeOf(path string) (uint64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.New("no inode for " + path)
	}
	return st.Ino, nil
}

// nameOf returns the name under dir of the namespace with inode ino, or
// "" when it has none.
func nameOf(dir string, ino uint64) string {
	named, _ := ReadNamed(dir)
	for _, n := range named {
		if n.Inode == ino {
			return n.Name
		}
	}
	return ""
}

// Named is a network namespace named in a directory such as NamedDir.
type Named struct {
	// Name is the file's name, Path its path, Inode the namespace's.
	Name, Path string
	Inode      uint64
}

// ReadNamed lists the namespaces named in dir, by name; a missing dir
// names none. An entry that is not an nsfs mount (a file left behind by an
// interrupted `ip netns add`, or an unmounted name) is not a namespace and
// is skipped.
func ReadNamed(dir string) ([]Named, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Named
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		var sfs unix.Statfs_t
		if err := unix.Statfs(path, &sfs); err != nil || sfs.Type != unix.NSFS_MAGIC {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			continue
		}
		out = append(out, Named{Name: e.Name(), Path: path, Inode: st.Ino})
	}
	return out, nil
}

// ProbeInitial reports whether the sysctl tree at sysRoot is the initial
// network namespace's: net.ipv4.tcp_max_orphans is in the global ipv4
// table, which the kernel registers for the initial namespace only (read
// values tell the same: advisor.Sysctls.InitialNamespace). An error other
// than the file's absence is returned.
func ProbeInitial(sysRoot string) (bool, error) {
	_, err := os.Stat(filepath.Join(sysRoot, strings.ReplaceAll(advisor.KeyMaxOrphans, ".", "/")))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// IsInitial is ProbeInitial where an error has no use: a tree it
// cannot tell about counts as the initial namespace's.
func IsInitial(sysRoot string) bool {
	initial, err := ProbeInitial(sysRoot)
	return initial || err != nil
}
