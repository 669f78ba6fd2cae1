package netns_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// The tests in this file run on the test host as root: they make several
// scratch namespaces at once, named (ip netns add) and unnamed (a process
// started with unshare --net), and look into each from the host. They write
// sysctls only inside the scratch namespaces.

func TestMain(m *testing.M) {
	if ino := os.Getenv(enterHelperEnv); ino != "" {
		enterHelper(ino)
		return
	}
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// selfInode is the test process's own network namespace.
func selfInode(t *testing.T) uint64 {
	t.Helper()
	ino := linkInode("/proc/self/ns/net")
	if ino == 0 {
		t.Fatal("cannot read /proc/self/ns/net")
	}
	return ino
}

// threadInode is the calling thread's network namespace.
func threadInode() uint64 { return linkInode("/proc/thread-self/ns/net") }

// linkInode reads a "net:[inode]" link; 0 when it cannot.
func linkInode(path string) uint64 {
	target, err := os.Readlink(path)
	if err != nil {
		return 0
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(target, "net:["), "]"), 10, 64)
	if err != nil {
		return 0
	}
	return ino
}

func runCmd(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

// countSS counts the sockets ss lists in one state, run through run (inside a
// namespace).
func countSS(out string) int { return strings.Count(out, "\n") }

// discover lists the machine's network namespaces as the agent sees them.
func discover(t *testing.T) []netns.Namespace {
	t.Helper()
	nss, err := netns.NewDiscoverer("/proc", "/run/netns").Discover()
	if err != nil {
		t.Fatal(err)
	}
	return nss
}

func mustFind(t *testing.T, nss []netns.Namespace, inode uint64, what string) netns.Namespace {
	t.Helper()
	n, ok := netns.Find(nss, inode)
	if !ok {
		t.Fatalf("%s (inode %d) not discovered among %d namespaces", what, inode, len(nss))
	}
	return n
}

func observeIn(t *testing.T, n netns.Namespace, depth observe.Depth) advisor.Snapshot {
	t.Helper()
	snap, err := observe.NewIn(n, "/proc", "/proc/sys").Observe(depth)
	if err != nil {
		t.Fatalf("observe %v: %v", n, err)
	}
	return snap
}

// TestKernelDiscoverAndObserve makes four namespaces with different loads
// and checks that discovery finds each with its holders and that observing
// each from the host reads that namespace's sysctls, counters and sockets
// and nobody else's.
func TestKernelDiscoverAndObserve(t *testing.T) {
	netnstest.RequireTools(t, "ip", "ss", "unshare", "nsenter")
	load := testbin.Build(t, "internal/cmd/tcpload")
	hostRange := netnstest.HostSysctl(t, advisor.KeyPortRange)

	// A: named, nobody in it, 600 TIME_WAIT towards one destination in a
	// 1000-port range.
	a := netnstest.New(t)
	a.SetSysctl(t, advisor.KeyPortRange, "40000 40999")
	a.SetSysctl(t, advisor.KeyTwReuse, "0")
	a.MustRun(t, load, "timewait", "-addr", "127.0.0.1:9000", "-n", "600")
	// B: named, another range, 200 TIME_WAIT and a process holding 50
	// CLOSE_WAIT.
	b := netnstest.New(t)
	b.SetSysctl(t, advisor.KeyPortRange, "50000 50999")
	b.MustRun(t, load, "timewait", "-addr", "127.0.0.1:9001", "-n", "200")
	bHolder := b.Start(t, "ready", load, "closewait", "-addr", "127.0.0.1:9101", "-n", "50")
	// C: unnamed, held only by the process that made it, which holds 300
	// CLOSE_WAIT.
	c := netnstest.Unnamed(t, "ready", load, "closewait", "-addr", "127.0.0.1:9100", "-n", "300")
	// D: unnamed and idle, held by a sleep.
	d := netnstest.Unnamed(t, "", "sleep", "300")

	nss := discover(t)
	na := mustFind(t, nss, a.Inode(t), "A")
	nb := mustFind(t, nss, b.Inode(t), "B")
	nc := mustFind(t, nss, c.Inode(t), "C")
	nd := mustFind(t, nss, d.Inode(t), "D")
	if na.Name != a.Name || na.ProcessCount != 0 || len(na.Processes) != 0 {
		t.Errorf("A = %+v, want named %s with no process", na, a.Name)
	}
	if nb.Name != b.Name || nb.ProcessCount != 1 || len(nb.Processes) != 1 ||
		nb.Processes[0].PID != bHolder.Process.Pid || nb.Processes[0].Command != "tcpload" {
		t.Errorf("B = %+v, want named %s held by tcpload %d", nb, b.Name, bHolder.Process.Pid)
	}
	if nc.Name != "" || nc.ProcessCount != 1 || len(nc.Processes) != 1 ||
		nc.Processes[0].PID != c.PID || nc.Processes[0].Command != "tcpload" {
		t.Errorf("C = %+v, want unnamed, held by tcpload %d", nc, c.PID)
	}
	if nd.Name != "" || len(nd.Processes) != 1 || nd.Processes[0].PID != d.PID || nd.Processes[0].Command != "sleep" {
		t.Errorf("D = %+v, want unnamed, held by sleep %d", nd, d.PID)
	}
	for _, n := range []netns.Namespace{na, nb, nc, nd} {
		if n.Host || n.Container != nil {
			t.Errorf("%v: host %v, container %v", n, n.Host, n.Container)
		}
	}
	// The host's namespace: this test's own, if it is the initial one
	// (tcp_max_orphans exists only there).
	_, statErr := os.Stat("/proc/sys/net/ipv4/tcp_max_orphans")
	var hosts []netns.Namespace
	for _, n := range nss {
		if n.Host {
			hosts = append(hosts, n)
		}
	}
	switch {
	case statErr == nil && (len(hosts) != 1 || hosts[0].Inode != selfInode(t) || nss[0].Inode != hosts[0].Inode):
		t.Errorf("host namespaces = %+v, want this test's (%d), listed first", hosts, selfInode(t))
	case statErr != nil && len(hosts) > 1:
		t.Errorf("host namespaces = %+v", hosts)
	}

	// Observe each from the host.
	snapA := observeIn(t, na, observe.Quiet)
	if snapA.Sysctls.PortRange() != (advisor.PortRange{Low: 40000, High: 40999}) || snapA.Sysctls.Int(advisor.KeyTwReuse) != 0 {
		t.Errorf("A: range %v, tw_reuse %d", snapA.Sysctls.PortRange(), snapA.Sysctls.Int(advisor.KeyTwReuse))
	}
	if snapA.Sysctls.InitialNamespace() {
		t.Errorf("A: tcp_max_orphans read inside a namespace that is not the initial one")
	}
	// 600 TIME_WAIT in a 1000-port range: the pre-check asks for the dump
	// even on a quiet tick.
	if snapA.Sockets == nil {
		t.Fatalf("A: no dump with %d sockets holding ports of %d", snapA.SocketsHoldingPorts(), snapA.Sysctls.UsablePorts())
	}
	twA := snapA.Sockets.States.Get(advisor.TimeWait)
	if ss := countSS(a.MustRun(t, "ss", "-tanH", "state", "time-wait")); twA < 590 || twA != ss {
		t.Errorf("A: TIME_WAIT = %d, want >= 590 and ss's %d", twA, ss)
	}
	destA := advisor.DestKey{Local: netip.MustParseAddr("127.0.0.1"), Remote: netip.MustParseAddrPort("127.0.0.1:9000")}
	if got := snapA.Sockets.PerDestination[destA]; got.InUse != twA || len(snapA.Sockets.PerDestination) != 1 {
		t.Errorf("A: destinations %v, want only %v with %d", snapA.Sockets.PerDestination, destA, twA)
	}
	if snapA.Counters.TimeWait != twA {
		t.Errorf("A: sockstat tw %d, dump %d", snapA.Counters.TimeWait, twA)
	}

	// A UDP socket made inside B, and one on the test host: B's dump
	// sees only its own (UDP ports are read from /proc/<tid>/net/udp).
	var udpB net.PacketConn
	if err := nb.Do(func() error {
		var err error
		udpB, err = net.ListenPacket("udp4", "127.0.0.1:9555")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer udpB.Close()
	udpHost, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udpHost.Close()
	hostPort := udpHost.LocalAddr().(*net.UDPAddr).Port

	snapB := observeIn(t, nb, observe.Full)
	if !snapB.Sockets.UDPPorts.Contains(9555) || snapB.Sockets.UDPPorts.Contains(hostPort) {
		t.Errorf("B: UDP ports %v, want 9555 and not the host's %d", snapB.Sockets.UDPPorts, hostPort)
	}
	if snapB.Sysctls.PortRange() != (advisor.PortRange{Low: 50000, High: 50999}) {
		t.Errorf("B: range %v", snapB.Sysctls.PortRange())
	}
	twB := snapB.Sockets.States.Get(advisor.TimeWait)
	if ss := countSS(b.MustRun(t, "ss", "-tanH", "state", "time-wait")); twB < 195 || twB != ss {
		t.Errorf("B: TIME_WAIT = %d, want >= 195 and ss's %d", twB, ss)
	}
	checkCloseWait(t, "B", snapB, 50, bHolder.Process.Pid)

	snapC := observeIn(t, nc, observe.Detail)
	if got := snapC.Sysctls.PortRange().String(); got != "32768 60999" {
		t.Errorf("C: range %s, want the default", got)
	}
	if ss := countSS(c.MustRun(t, "ss", "-tanH", "state", "close-wait")); ss != 300 {
		t.Errorf("C: ss counts %d CLOSE_WAIT", ss)
	}
	checkCloseWait(t, "C", snapC, 300, c.PID)
	if tw := snapC.Sockets.States.Get(advisor.TimeWait); tw != 0 {
		t.Errorf("C: %d TIME_WAIT dumped in a detail tick", tw)
	}

	snapD := observeIn(t, nd, observe.Full)
	if snapD.Counters.TCPInUse != 0 || snapD.Counters.TimeWait != 0 || snapD.Sockets.States != (advisor.StateCounts{}) {
		t.Errorf("D: counters %+v, states %v, want an idle namespace", snapD.Counters, snapD.Sockets.States)
	}
	if snapD.Sysctls.PortRange().String() != "32768 60999" {
		t.Errorf("D: range %v", snapD.Sysctls.PortRange())
	}
	// A quiet tick in an idle namespace dumps nothing.
	if s := observeIn(t, nd, observe.Quiet); s.Sockets != nil {
		t.Errorf("D: quiet tick dumped")
	}

	if len(hosts) == 1 {
		snapHost := observeIn(t, hosts[0], observe.Quiet)
		if !snapHost.Sysctls.InitialNamespace() || snapHost.Sysctls.PortRange().String() != hostRange {
			t.Errorf("host: tcp_max_orphans %v, range %v, want present and %s", snapHost.Sysctls.InitialNamespace(), snapHost.Sysctls.PortRange(), hostRange)
		}
	}
}

// checkCloseWait asserts n CLOSE_WAIT sockets, all owned by pid's tcpload,
// which runs in the namespace observed: the owner lookup crosses namespaces.
func checkCloseWait(t *testing.T, what string, snap advisor.Snapshot, n, pid int) {
	t.Helper()
	if snap.Sockets == nil {
		t.Fatalf("%s: no dump", what)
	}
	if got := snap.Sockets.States.Get(advisor.CloseWait); got != n || len(snap.Sockets.CloseWait) != n {
		t.Errorf("%s: CLOSE_WAIT = %d (%d detailed), want %d", what, got, len(snap.Sockets.CloseWait), n)
	}
	for _, s := range snap.Sockets.CloseWait {
		if s.Owner == nil || s.Owner.PID != pid || s.Owner.Command != "tcpload" {
			t.Fatalf("%s: CLOSE_WAIT %v owner %+v, want tcpload %d", what, s.ID, s.Owner, pid)
		}
	}
	if len(snap.Sockets.Listeners) != 1 || snap.Sockets.Listeners[0].Owner == nil || snap.Sockets.Listeners[0].Owner.PID != pid {
		t.Errorf("%s: listeners %+v, want tcpload's one", what, snap.Sockets.Listeners)
	}
}

// TestKernelDoThreads enters three namespaces from many goroutines at once:
// each call must run in its namespace, and no thread of this process may be
// left in another namespace afterwards.
func TestKernelDoThreads(t *testing.T) {
	netnstest.RequireTools(t, "ip", "unshare", "nsenter")
	a := netnstest.New(t)
	c := netnstest.Unnamed(t, "", "sleep", "300")
	nss := discover(t)
	targets := []netns.Namespace{mustFind(t, nss, a.Inode(t), "A"), mustFind(t, nss, c.Inode(t), "C")}
	if n, ok := netns.Find(nss, selfInode(t)); ok {
		targets = append(targets, n)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16*len(targets))
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				n := targets[(g+i)%len(targets)]
				err := n.Do(func() error {
					if got := threadInode(); got != n.Inode {
						return errors.New("ran in the wrong namespace")
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	self := selfInode(t)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if ino := linkInode("/proc/self/task/" + task.Name() + "/ns/net"); ino != 0 && ino != self {
			t.Errorf("thread %s left in namespace %d", task.Name(), ino)
		}
	}
}

// TestKernelDoGone: a namespace whose holder exited, or whose name was
// deleted, is gone; a recycled path would lead to another inode and is not
// followed.
func TestKernelDoGone(t *testing.T) {
	netnstest.RequireTools(t, "ip", "unshare", "nsenter")
	a := netnstest.New(t)
	c := netnstest.Unnamed(t, "", "sleep", "300")
	nss := discover(t)
	nc := mustFind(t, nss, c.Inode(t), "C")
	na := mustFind(t, nss, a.Inode(t), "A")
	if p, err := nc.Path(); err != nil || !strings.HasSuffix(p, "/ns/net") {
		t.Errorf("C's path = %q, %v", p, err)
	}
	if p, err := na.Path(); err != nil || p != "/run/netns/"+a.Name {
		t.Errorf("A's path = %q, %v", p, err)
	}
	c.Kill()
	if err := nc.Do(func() error { return nil }); !errors.Is(err, netns.ErrGone) {
		t.Errorf("Do in a namespace whose holder exited: %v, want ErrGone", err)
	}
	if _, err := nc.Path(); !errors.Is(err, netns.ErrGone) {
		t.Errorf("Path of a gone namespace: %v", err)
	}
	// A name now bound to another namespace is not followed.
	if out, err := runCmd("ip", "netns", "del", a.Name); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	if out, err := runCmd("ip", "netns", "add", a.Name); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	if err := na.Do(func() error { return nil }); !errors.Is(err, netns.ErrGone) {
		t.Errorf("Do through a name rebound to another namespace: %v, want ErrGone", err)
	}
	ran := false
	if err := na.Do(func() error { ran = true; return nil }); err == nil || ran {
		t.Errorf("fn ran in the wrong namespace")
	}
}

// enterHelperEnv names, in the environment of the test binary run again by
// TestKernelDoRefused, the inode of the namespace its enterHelper enters.
const enterHelperEnv = "TCP_ADVISOR_TEST_ENTER_INODE"

// enterHelper discovers the namespace of inode ino, tries to enter it and
// prints what Do returned, with "refused" when it is ErrEnterRefused.
func enterHelper(ino string) {
	inode, err := strconv.ParseUint(ino, 10, 64)
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	nss, err := netns.NewDiscoverer("/proc", "/run/netns").Discover()
	n, ok := netns.Find(nss, inode)
	if err != nil || !ok {
		fmt.Println("not discovered:", err)
		os.Exit(2)
	}
	err = n.Do(func() error { return nil })
	fmt.Printf("refused=%t err=%v\n", errors.Is(err, netns.ErrEnterRefused), err)
}

// TestKernelDoRefused: a process whose bounding set lacks CAP_SYS_ADMIN
// (as the packaged unit's) is refused entry with ErrEnterRefused, which
// names the capability; with it, entry works.
func TestKernelDoRefused(t *testing.T) {
	netnstest.RequireTools(t, "ip", "setpriv")
	a := netnstest.New(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		prefix []string
		want   string
	}{
		{"with CAP_SYS_ADMIN", nil, "refused=false err=<nil>"},
		{"without CAP_SYS_ADMIN", []string{"setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", "--"},
			"refused=true err=setns: " + netns.ErrEnterRefused.Error() + ": operation not permitted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.prefix, self)
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", enterHelperEnv, a.Inode(t)))
			out, err := cmd.CombinedOutput()
			if got := strings.TrimSpace(string(out)); err != nil || got != tt.want {
				t.Errorf("%v: %v: %q, want %q", args, err, got, tt.want)
			}
		})
	}
	if !strings.Contains(netns.ErrEnterRefused.Error(), "CAP_SYS_ADMIN") {
		t.Errorf("ErrEnterRefused does not name CAP_SYS_ADMIN: %v", netns.ErrEnterRefused)
	}
}

// TestKernelContainerFromCgroup puts a namespace's holder into a cgroup made
// the way the kubelet's systemd driver and containerd make them (below a
// scratch parent), and reads the pod and container back through discovery.
func TestKernelContainerFromCgroup(t *testing.T) {
	netnstest.RequireTools(t, "unshare", "nsenter")
	root := cgroup2Root(t)
	holder := netnstest.Unnamed(t, "", "sleep", "300")
	uid := "3b9f6c2e-1d4a-4f8b-9e7c-5a6d2b1c0f93"
	id := strings.Repeat("5c", 32)
	scratch := filepath.Join(root, fmt.Sprintf("tcpadv-test-%d", os.Getpid()))
	dirs := []string{
		scratch,
		filepath.Join(scratch, "kubepods.slice"),
		filepath.Join(scratch, "kubepods.slice", "kubepods-besteffort.slice"),
		filepath.Join(scratch, "kubepods.slice", "kubepods-besteffort.slice", "kubepods-besteffort-pod"+strings.ReplaceAll(uid, "-", "_")+".slice"),
	}
	dirs = append(dirs, filepath.Join(dirs[3], "cri-containerd-"+id+".scope"))
	t.Cleanup(func() {
		holder.Kill()
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("remove cgroup: %v", err)
			}
		}
	})
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dirs[4], "cgroup.procs"), []byte(strconv.Itoa(holder.PID)), 0o644); err != nil {
		t.Fatal(err)
	}
	nss := discover(t)
	n := mustFind(t, nss, holder.Inode(t), "the pod's namespace")
	want := netns.Container{Runtime: "containerd", ID: id, PodUID: uid}
	if n.Container == nil || *n.Container != want {
		t.Errorf("container = %+v, want %+v", n.Container, want)
	}
	if len(n.Processes) != 1 || n.Processes[0].PID != holder.PID || n.Processes[0].Container == nil {
		t.Errorf("processes = %+v", n.Processes)
	}
	if s := n.String(); s != "containerd://"+id+" pod "+uid {
		t.Errorf("String() = %q", s)
	}
}

// cgroup2Root returns where the unified cgroup hierarchy is mounted
// (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts).
func cgroup2Root(t *testing.T) string {
	t.Helper()
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(mounts)) {
		// id parent major:minor root mountpoint options... - fstype source super
		pre, post, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		if f := strings.Fields(pre); len(f) >= 5 && f[3] == "/" {
			return f[4]
		}
	}
	testbin.Missing(t, "no cgroup2 hierarchy mounted")
	return ""
}

// TestKernelHostnameNamesContainer: a namespace that no runtime names is
// named by the hostname its holder's own UTS namespace has, as a container
// sets it; one whose holder shares the host's UTS namespace is not.
func TestKernelHostnameNamesContainer(t *testing.T) {
	green := netnstest.UnnamedHost(t, "lb-green", "", "sleep", "300")
	plain := netnstest.Unnamed(t, "", "sleep", "300")
	d := netns.NewDiscoverer("/proc", "/run/netns")
	d.Names = netns.NameSources{}
	n, err := d.ByPID(green.PID)
	if err != nil {
		t.Fatal(err)
	}
	if n.Hostname != "lb-green" || n.String() != "lb-green" {
		t.Errorf("namespace of a holder with hostname lb-green: Hostname %q, String %q", n.Hostname, n.String())
	}
	if got, err := d.ByName("lb-green"); err != nil || got.Inode != n.Inode {
		t.Errorf("ByName(lb-green) = net:[%d], %v; want net:[%d]", got.Inode, err, n.Inode)
	}
	p, err := d.ByPID(plain.PID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Hostname != "" || !strings.HasPrefix(p.String(), "net:[") {
		t.Errorf("namespace whose holder shares the host's UTS namespace: Hostname %q, String %q", p.Hostname, p.String())
	}
}
