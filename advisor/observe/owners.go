package observe

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
)

// OwnerResolver maps socket inodes to the process that holds them, the way
// `ss -p` does: by reading /proc/<pid>/fd links of the form "socket:[inode]".
// It remembers what it found, so a steady set of sockets costs one scan.
type OwnerResolver struct {
	procRoot string
	known    map[uint32]*advisor.Owner // nil value: looked for, not found
}

// NewOwnerResolver returns a resolver reading below procRoot (normally /proc).
func NewOwnerResolver(procRoot string) *OwnerResolver {
	return &OwnerResolver{procRoot: procRoot, known: make(map[uint32]*advisor.Owner)}
}

// Resolve fills in Owner for every socket with a non-zero inode. It scans
// /proc only when a socket is new since the last call, and stops scanning once
// every new inode is found. Inodes no longer present are forgotten.
func (r *OwnerResolver) Resolve(lists ...[]advisor.DetailedSocket) {
	live := make(map[uint32]bool)
	want := make(map[uint32]bool)
	for _, list := range lists {
		for _, s := range list {
			if s.Inode == 0 {
				continue
			}
			live[s.Inode] = true
			if _, ok := r.known[s.Inode]; !ok {
				want[s.Inode] = true
			}
		}
	}
	for ino := range r.known {
		if !live[ino] {
			delete(r.known, ino)
		}
	}
	if len(want) > 0 {
		for ino, o := range r.scan(want) {
			r.known[ino] = o
		}
		for ino := range want {
			if _, ok := r.known[ino]; !ok {
				r.known[ino] = nil
			}
		}
	}
	for _, list := range lists {
		for i := range list {
			list[i].Owner = r.known[list[i].Inode]
		}
	}
}

// scan walks /proc/<pid>/fd for the wanted inodes.
func (r *OwnerResolver) scan(want map[uint32]bool) map[uint32]*advisor.Owner {
	found := make(map[uint32]*advisor.Owner, len(want))
	fs, err := procfs.NewFS(r.procRoot)
	if err != nil {
		return found
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return found
	}
	for _, p := range procs {
		fds, err := p.FileDescriptors()
		if err != nil {
			continue // gone, or a kernel thread
		}
		var owner *advisor.Owner
		for _, fd := range fds {
			ino, ok := r.socketAt(p.PID, fd)
			if !ok || !want[ino] || found[ino] != nil {
				continue
			}
			if owner == nil {
				owner = r.ownerOf(p, fd, ino)
			}
			found[ino] = owner
		}
		if len(found) == len(want) {
			break
		}
	}
	return found
}

// betweenScanAndRead runs between the fd scan that found a socket and the
// reads of its owner; tests use it to make the process exit or its pid be
// reused in that window.
var betweenScanAndRead = func(pid int) {}

// socketAt returns the inode of the socket a process holds on fd, if fd is
// a socket.
func (r *OwnerResolver) socketAt(pid int, fd uintptr) (uint32, bool) {
	target, err := os.Readlink(filepath.Join(r.procRoot, strconv.Itoa(pid), "fd", strconv.FormatUint(uint64(fd), 10)))
	if err != nil {
		return 0, false
	}
	return parseSocketLink(target)
}

// ownerOf reads the command and unit of the process whose fd scan found
// socket ino on fd. The process may exit, or its pid be reused, at any
// moment: its start time is read before and after the other files, and fd
// must still hold the socket afterwards. When any of that fails the owner
// keeps only the pid and is marked Partial; so is one whose comm or cgroup
// file could not be read.
func (r *OwnerResolver) ownerOf(p procfs.Proc, fd uintptr, ino uint32) *advisor.Owner {
	betweenScanAndRead(p.PID)
	o := &advisor.Owner{PID: p.PID}
	before, err := statOf(p)
	if err != nil {
		o.Partial = true
		return o
	}
	comm, commErr := p.Comm()
	cgroups, cgErr := p.Cgroups()
	after, err := statOf(p)
	if err != nil || after.Starttime != before.Starttime {
		o.Partial = true
		return o
	}
	if still, ok := r.socketAt(p.PID, fd); !ok || still != ino {
		o.Partial = true
		return o
	}
	o.Command = comm
	if commErr != nil || comm == "" {
		o.Partial = true
	}
	if cgErr != nil {
		o.Partial = true
	} else {
		o.Unit = netns.UnitFromCgroups(cgroups)
	}
	return o
}

// statOf is p.Stat() that returns an error where procfs v0.23.0 panics: it
// slices past the end of a stat file that ends at the ")" closing the
// command, or whose first "(" follows its last ")". The kernel writes
// neither, but a process may be gone and its pid's files anything a test
// or a fuzzer wrote.
func statOf(p procfs.Proc) (st procfs.ProcStat, err error) {
	defer func() {
		if r := recover(); r != nil {
			st, err = procfs.ProcStat{}, fmt.Errorf("/proc/%d/stat: malformed: %v", p.PID, r)
		}
	}()
	return p.Stat()
}

// parseSocketLink parses an fd link target "socket:[12345]".
func parseSocketLink(target string) (uint32, bool) {
	rest, ok := strings.CutPrefix(target, "socket:[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return 0, false
	}
	ino, err := strconv.ParseUint(rest[:len(rest)-1], 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(ino), true
}
