package observe

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

// NetnsDir is where `ip netns add` names network namespaces.
const NetnsDir = "/run/netns"

// CurrentNetns identifies the network namespace this process runs in: the
// inode of procRoot/self/ns/net, its name when a file in netnsDir is a
// mount of the same namespace, its cookie and the boot id.
func CurrentNetns(procRoot, netnsDir string) (advisor.Netns, error) {
	ino, err := nsInode(filepath.Join(procRoot, "self", "ns", "net"))
	if err != nil {
		return advisor.Netns{}, fmt.Errorf("network namespace: %w", err)
	}
	return Identify(advisor.Netns{Inode: ino, Name: netnsName(netnsDir, ino)}, procRoot, NetnsCookie)
}

// nsInode returns the inode of a namespace file.
func nsInode(path string) (uint64, error) {
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

// netnsName returns the name under dir of the namespace with inode ino, or
// "" when it has none.
func netnsName(dir string, ino uint64) string {
	named, _ := ReadNamedNetns(dir)
	for _, n := range named {
		if n.Inode == ino {
			return n.Name
		}
	}
	return ""
}

// NamedNetns is a network namespace named in a directory such as NetnsDir.
type NamedNetns struct {
	// Name is the file's name, Path its path, Inode the namespace's.
	Name, Path string
	Inode      uint64
}

// ReadNamedNetns lists the namespaces named in dir, by name; a missing dir
// names none. An entry that is not an nsfs mount (a file left behind by an
// interrupted `ip netns add`, or an unmounted name) is not a namespace and
// is skipped.
func ReadNamedNetns(dir string) ([]NamedNetns, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []NamedNetns
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
		out = append(out, NamedNetns{Name: e.Name(), Path: path, Inode: st.Ino})
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

// InitialNamespace is ProbeInitial where an error has no use: a tree it
// cannot tell about counts as the initial namespace's.
func InitialNamespace(sysRoot string) bool {
	initial, err := ProbeInitial(sysRoot)
	return initial || err != nil
}
