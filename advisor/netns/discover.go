package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
)

// DefaultMaxProcesses is how many processes a discovery lists per namespace.
const DefaultMaxProcesses = 10

// pfKthread is PF_KTHREAD in the flags of /proc/<pid>/stat
// (include/linux/sched.h).
const pfKthread = 0x00200000

// Discoverer finds the network namespaces of the host. Discover may be called
// every tick: it walks /proc once, reads the named directory, and reads
// /proc/<pid>/stat and cgroup only for the processes it lists. It is not safe
// for concurrent use.
type Discoverer struct {
	procRoot string
	namedDir string
	// MaxProcesses caps the processes listed per namespace.
	MaxProcesses int
	// Names are where the names of containers come from.
	Names NameSources

	// host is the initial namespace's inode once known: it lives as long
	// as the host, so it is looked for until found, then remembered.
	host uint64
	// notInitial holds inodes probed and found not to be the initial one.
	notInitial map[uint64]bool
	// procs remembers the processes the last discovery listed.
	procs map[int]cachedProc
	// isInitial probes a namespace from inside; tests on a fixture /proc
	// replace it.
	isInitial func(Namespace) (bool, error)
}

// NewDiscoverer returns a discoverer reading processes below procRoot
// (normally "/proc") and names from namedDir (normally "/run/netns", where
// `ip netns add` and CNI plugins bind-mount namespaces; a missing directory
// means no names).
func NewDiscoverer(procRoot, namedDir string) *Discoverer {
	return &Discoverer{
		procRoot:     procRoot,
		namedDir:     namedDir,
		MaxProcesses: DefaultMaxProcesses,
		Names:        DefaultNameSources,
		notInitial:   make(map[uint64]bool),
		isInitial:    probeInitial,
	}
}

// Discover returns every network namespace held by a process or named in the
// named directory: the host's first, then the named ones by name, then the
// rest by inode. Processes whose ns/net cannot be read (gone, zombies, or
// another user's without root) are left out. Only the main thread of each
// process is looked at: a thread that entered another namespace on its own is
// not seen.
func (d *Discoverer) Discover() ([]Namespace, error) {
	dir, err := os.Open(d.procRoot)
	if err != nil {
		return nil, err
	}
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", d.procRoot, err)
	}
	byInode := make(map[uint64]*Namespace)
	get := func(ino uint64) *Namespace {
		n := byInode[ino]
		if n == nil {
			n = &Namespace{Inode: ino, procRoot: d.procRoot}
			byInode[ino] = n
		}
		return n
	}
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		ino, err := readNetLink(filepath.Join(d.procRoot, name, "ns", "net"))
		if err != nil {
			continue
		}
		n := get(ino)
		n.holders = append(n.holders, pid)
	}
	named, err := ReadNamed(d.namedDir)
	if err != nil {
		return nil, err
	}
	for _, nm := range named {
		if n := get(nm.Inode); n.Name == "" {
			n.Name, n.named = nm.Name, nm.Path
		}
	}

	procFS, err := procfs.NewFS(d.procRoot)
	if err != nil {
		return nil, err
	}
	var withKthreads uint64
	out := make([]Namespace, 0, len(byInode))
	seen := make(map[int]cachedProc, len(d.procs))
	for _, n := range byInode {
		slices.Sort(n.holders)
		n.ProcessCount = len(n.holders)
		if d.list(procFS, n, seen) {
			withKthreads = n.Inode
		}
		out = append(out, *n)
	}
	d.procs = seen
	d.markHost(out, withKthreads)
	known := d.readNames()
	for i := range out {
		known.name(&out[i])
		d.nameByProcess(&out[i])
	}
	slices.SortFunc(out, Compare)
	return out, nil
}

// nameByProcess names a namespace that nothing else names after its
// processes: the machine in their cgroup path, else the hostname of the
// first one's UTS namespace (read once per process).
func (d *Discoverer) nameByProcess(n *Namespace) {
	if n.Host || len(n.Processes) == 0 || n.Name != "" || n.Machine != "" {
		return
	}
	pid := n.Processes[0].PID
	c := d.procs[pid]
	if c.machine != "" {
		n.Machine = c.machine
		return
	}
	if n.Container != nil && (n.Container.Name != "" || n.Container.Pod != "") {
		return
	}
	if !c.hostnameRead {
		c.hostname, _ = utsHostname(d.procRoot, pid)
		c.hostnameRead = true
		d.procs[pid] = c
	}
	n.Hostname = c.hostname
}

// ByName discovers the namespaces and returns the one that answers to name
// (see Names): its `ip netns` name, machine, pod, container name,
// hostname, container id or pod UID. A name that several namespaces answer
// to is refused, naming them.
func (d *Discoverer) ByName(name string) (Namespace, error) {
	nss, err := d.Discover()
	if err != nil {
		return Namespace{}, err
	}
	var found []Namespace
	for _, n := range nss {
		if slices.Contains(n.Names(), name) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Namespace{}, fmt.Errorf("no network namespace named %q (by ip netns, machine, pod, container or hostname)", name)
	}
	var which []string
	for _, n := range found {
		which = append(which, fmt.Sprintf("net:[%d]", n.Inode))
	}
	return Namespace{}, fmt.Errorf("%d network namespaces answer to %q: %s; name one by its inode (net:[N]) or use --netns-pid", len(found), name, strings.Join(which, ", "))
}

// ByPID discovers the namespaces and returns the one process pid is in.
func (d *Discoverer) ByPID(pid int) (Namespace, error) {
	ino, err := readNetLink(filepath.Join(d.procRoot, strconv.Itoa(pid), "ns", "net"))
	if err != nil {
		return Namespace{}, fmt.Errorf("network namespace of pid %d: %w", pid, err)
	}
	nss, err := d.Discover()
	if err != nil {
		return Namespace{}, err
	}
	if n, ok := Find(nss, ino); ok {
		return n, nil
	}
	return Namespace{}, fmt.Errorf("network namespace of pid %d: %w", pid, ErrGone)
}

// list fills in the first MaxProcesses holders that are not kernel threads
// and the namespace's container. It reports whether it met a kernel thread.
func (d *Discoverer) list(procFS procfs.FS, n *Namespace, seen map[int]cachedProc) (kthreads bool) {
	allContained := true
	for _, pid := range n.holders {
		if len(n.Processes) >= d.MaxProcesses {
			break
		}
		p, err := procFS.Proc(pid)
		if err != nil {
			continue // gone since the walk
		}
		st, err := p.Stat()
		if err != nil {
			continue
		}
		if st.Flags&pfKthread != 0 {
			kthreads = true
			continue
		}
		c, ok := d.procs[pid]
		if !ok || c.start != st.Starttime {
			c = cachedProc{start: st.Starttime}
			if cgroups, err := p.Cgroups(); err == nil {
				c.unit = UnitFromCgroups(cgroups)
				c.container = ContainerFromCgroups(cgroups)
				for _, cg := range cgroups {
					if m := machineFromPath(cg.Path); m != "" {
						c.machine = m
						break
					}
				}
			}
		}
		seen[pid] = c
		proc := Process{PID: pid, Command: st.Comm, Unit: c.unit, Container: c.container}
		allContained = allContained && proc.Container != nil
		n.Processes = append(n.Processes, proc)
	}
	if len(n.Processes) > 0 && allContained && !kthreads {
		n.Container = n.Processes[0].Container
	}
	return kthreads
}

// cachedProc is what a discovery remembers of a listed process, so the next
// one reads its cgroup again only if the pid now names another process.
// A process moved to another cgroup keeps its old unit and container until
// it is no longer listed.
type cachedProc struct {
	start     uint64 // starttime in /proc/<pid>/stat: pid and start name a process
	unit      string
	container *Container
	machine   string // the nspawn machine its cgroup path names
	// hostname is its UTS namespace's hostname ("" when the host's),
	// once hostnameRead.
	hostname     string
	hostnameRead bool
}

// markHost marks the initial network namespace. Kernel threads all live in
// it (they share the initial nsproxy), so the namespace a kernel thread was
// seen in is the host's; kernel threads are visible only from the initial PID
// namespace. Failing that, PID 1's namespace and then this process's own are
// probed from inside: net.ipv4.tcp_max_orphans is in the global ipv4 table,
// which the kernel registers for the initial namespace alone, so its file
// exists in /proc/sys only there. The answer is remembered; when none is
// found (an agent in a container that sees neither), nothing is marked.
func (d *Discoverer) markHost(nss []Namespace, withKthreads uint64) {
	if d.host == 0 && withKthreads != 0 {
		d.host = withKthreads
	}
	if d.host == 0 {
		var candidates []uint64
		for _, who := range []string{"1", "self"} {
			if ino, err := readNetLink(filepath.Join(d.procRoot, who, "ns", "net")); err == nil {
				candidates = append(candidates, ino)
			}
		}
		for _, ino := range candidates {
			n, ok := Find(nss, ino)
			if !ok || d.notInitial[ino] {
				continue
			}
			initial, err := d.isInitial(n)
			if err != nil {
				continue // not entered: try again next time
			}
			if initial {
				d.host = ino
				break
			}
			d.notInitial[ino] = true
		}
	}
	for i := range nss {
		if nss[i].Inode == d.host {
			nss[i].Host = true
			nss[i].Container = nil
		}
	}
}

// probeInitial reports whether n is the initial network namespace, probing
// /proc/sys from inside it.
func probeInitial(n Namespace) (bool, error) {
	var initial bool
	err := n.Do(func() (err error) {
		initial, err = ProbeInitial("/proc/sys")
		return err
	})
	return initial, err
}

// readNetLink reads a /proc/<pid>/ns/net link, "net:[4026531840]".
func readNetLink(path string) (uint64, error) {
	target, err := os.Readlink(path)
	if err != nil {
		return 0, err
	}
	return parseNetLink(target)
}

func parseNetLink(target string) (uint64, error) {
	rest, ok := strings.CutPrefix(target, "net:[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return 0, fmt.Errorf("not a network namespace link: %q", target)
	}
	return strconv.ParseUint(rest[:len(rest)-1], 10, 64)
}
