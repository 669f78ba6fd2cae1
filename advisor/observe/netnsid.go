package observe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// NetnsDir is where `ip netns add` names network namespaces.
const NetnsDir = "/run/netns"

// CurrentNetns identifies the network namespace this process runs in: the
// inode of procRoot/self/ns/net, and its name when a file in netnsDir is a
// mount of the same namespace.
func CurrentNetns(procRoot, netnsDir string) (advisor.Netns, error) {
	ino, err := nsInode(filepath.Join(procRoot, "self", "ns", "net"))
	if err != nil {
		return advisor.Netns{}, fmt.Errorf("network namespace: %w", err)
	}
	return advisor.Netns{Inode: ino, Name: netnsName(netnsDir, ino)}, nil
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
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if i, err := nsInode(filepath.Join(dir, e.Name())); err == nil && i == ino {
			return e.Name()
		}
	}
	return ""
}

// InitialNamespace reports whether the sysctl tree at sysRoot is the
// initial network namespace's: net.ipv4.tcp_max_orphans is in the global
// ipv4 table, which the kernel registers for the initial namespace only.
func InitialNamespace(sysRoot string) bool {
	_, err := os.Stat(filepath.Join(sysRoot, "net", "ipv4", "tcp_max_orphans"))
	return !errors.Is(err, fs.ErrNotExist)
}
