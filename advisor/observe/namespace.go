package observe

import (
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
)

// NewIn returns an observer of the network namespace ns. procRoot and sysRoot
// are as for New, and must be the real /proc and /proc/sys for the
// namespace to matter. ns may be a pointer the caller updates between
// observations (with each discovery's view of the namespace). The owners of sockets are looked up in every process
// of procRoot: socket inodes are unique host-wide, so an owner is found
// whichever namespace the process runs in.
func NewIn(ns netns.Enterer, procRoot, sysRoot string) *Observer {
	o := New(procRoot, sysRoot)
	o.ns = ns
	return o
}

// readIn reads the namespace's sysctls, counters and socket table from
// inside o.ns.
func (o *Observer) readIn(depth Depth) (advisor.Snapshot, error) {
	var snap advisor.Snapshot
	err := o.ns.Do(func() error {
		var err error
		snap, err = o.read(depth)
		return err
	})
	return snap, err
}

// readCounters reads the counters of the namespace being observed: inside
// one, those of the calling thread, which Namespace.Do put there.
func (o *Observer) readCounters() (advisor.Counters, error) {
	if o.ns != nil {
		return ReadCountersOf(o.procRoot, unix.Gettid())
	}
	return ReadCounters(o.procRoot)
}

// netRoot is the directory whose net/ shows the namespace being observed:
// procRoot (/proc/net, the process's), or inside one /proc/<tid>, the
// calling thread's.
func (o *Observer) netRoot() string {
	if o.ns != nil {
		return filepath.Join(o.procRoot, strconv.Itoa(unix.Gettid()))
	}
	return o.procRoot
}
