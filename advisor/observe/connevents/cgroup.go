package connevents

import (
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
)

// CgroupRoot is where the unified cgroup hierarchy is mounted.
const CgroupRoot = "/sys/fs/cgroup"

// rescanEvery bounds how often a cgroup id nobody knows makes the tree be
// walked again.
const rescanEvery = 10 * time.Second

// CgroupNames maps cgroup v2 ids to systemd units. A cgroup's id is the
// inode number of its directory in cgroupfs (kernfs_node id), so one walk
// of the tree finds every id; the walk is repeated, at most every
// rescanEvery, when an id is not known.
type CgroupNames struct {
	root     string
	mu       sync.Mutex
	units    map[uint64]string
	scanned  time.Time
	now      func() time.Time
	scanning func(root string) map[uint64]string
}

// NewCgroupNames returns a resolver for the hierarchy mounted at root.
func NewCgroupNames(root string) *CgroupNames {
	return &CgroupNames{root: root, units: map[uint64]string{}, now: time.Now, scanning: scanCgroups}
}

// Unit returns the systemd unit (service, or a container's scope) of the
// cgroup with id, or "" when it is in none or is gone.
func (c *CgroupNames) Unit(id uint64) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok := c.units[id]; ok {
		return u
	}
	if now := c.now(); now.Sub(c.scanned) >= rescanEvery {
		c.scanned = now
		c.units = c.scanning(c.root)
	}
	return c.units[id]
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
		units[st.Ino] = observe.UnitFromCgroupPath("/" + rel)
		return nil
	})
	return units
}
