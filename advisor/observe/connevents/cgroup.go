package connevents

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"

	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
)

// CgroupRoot returns where the unified (v2) cgroup hierarchy is mounted,
// whose ids bpf_get_current_cgroup_id() gives: /sys/fs/cgroup, or on a
// hybrid host /sys/fs/cgroup/unified.
func CgroupRoot() string {
	const root = "/sys/fs/cgroup"
	for _, dir := range []string{root, filepath.Join(root, "unified")} {
		if _, err := os.Stat(filepath.Join(dir, "cgroup.controllers")); err == nil {
			return dir
		}
	}
	return root
}

// rescanEvery bounds how often a cgroup id nobody knows makes the tree be
// walked again.
const rescanEvery = 10 * time.Second

// CgroupNames maps cgroup v2 ids to systemd units. A live process's cgroup
// is read from /proc/PID/cgroup; otherwise the id is looked up in the
// cgroup tree, where it is the inode number of the cgroup's directory
// (kernfs_node id): one walk of the tree finds every id, repeated at most
// every rescanEvery when an id is not known.
type CgroupNames struct {
	root     string
	procRoot string
	mu       sync.Mutex
	units    map[uint64]string
	scanned  time.Time
	now      func() time.Time
}

// NewCgroupNames returns a resolver for the hierarchy mounted at root.
func NewCgroupNames(root string) *CgroupNames {
	return &CgroupNames{root: root, procRoot: "/proc", units: map[uint64]string{}, now: time.Now}
}

// Unit returns the systemd unit (service, or a container's scope) of the
// cgroup with id, in which process pid called itself command; "" when it
// is in none or is gone.
func (c *CgroupNames) Unit(id uint64, pid int, command string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok := c.units[id]; ok {
		return u
	}
	if path, ok := c.liveCgroup(pid, command); ok {
		c.units[id] = netns.UnitFromCgroupPath(path)
		return c.units[id]
	}
	if now := c.now(); now.Sub(c.scanned) >= rescanEvery {
		c.scanned = now
		c.units = scanCgroups(c.root)
	}
	return c.units[id]
}

// liveCgroup returns the unified-hierarchy cgroup path of process pid,
// when it still runs as command (not a reused pid).
func (c *CgroupNames) liveCgroup(pid int, command string) (string, bool) {
	p, err := procfs.NewFS(c.procRoot)
	if err != nil {
		return "", false
	}
	proc, err := p.Proc(pid)
	if err != nil {
		return "", false
	}
	if comm, err := proc.Comm(); err != nil || comm != command {
		return "", false
	}
	cgroups, err := proc.Cgroups()
	if err != nil {
		return "", false
	}
	for _, cg := range cgroups {
		if cg.HierarchyID == 0 {
			return cg.Path, true
		}
	}
	return "", false
}

// scanCgroups walks root and returns the unit of every cgroup, by inode.
func scanCgroups(root string) map[uint64]string {
	units := map[uint64]string{}
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		units[st.Ino] = netns.UnitFromCgroupPath("/" + rel)
		return nil
	})
	return units
}
