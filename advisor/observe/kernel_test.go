package observe

import (
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// The tests in this file run inside a scratch network namespace (see
// netnstest.Inside), where writing /proc/sys/net changes only that namespace.

func setSysctl(t *testing.T, key, value string) {
	t.Helper()
	path := "/proc/sys/" + dotsToSlashes(key)
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		t.Fatal(err)
	}
}

func dotsToSlashes(k string) string {
	b := []byte(k)
	for i := range b {
		if b[i] == '.' {
			b[i] = '/'
		}
	}
	return string(b)
}

// serveCloseOnEOF listens on addr and closes each connection shortly after
// the client does, so clients end in TIME_WAIT. (Closing at once can race the
// client's move to a timewait sock on loopback and draw a RST that kills it.)
func serveCloseOnEOF(t *testing.T, network, addr string) *server {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	srv := &server{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, _ = io.Copy(io.Discard, c)
				time.Sleep(20 * time.Millisecond)
				c.Close()
				srv.closed.Add(1)
			}()
		}
	}()
	return srv
}

// server counts the connections it has closed.
type server struct{ closed atomic.Int64 }

// waitClosed waits until the server has closed n connections in all.
func (s *server) waitClosed(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.closed.Load() < int64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("server closed %d of %d connections", s.closed.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// makeTimeWait opens n connections to addr and closes each from the client.
func makeTimeWait(t *testing.T, network, addr string, n int) {
	t.Helper()
	for range n {
		c, err := net.Dial(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

// makeCloseWait leaves n accepted connections open after their clients
// closed: n CLOSE_WAIT sockets held by this process.
func makeCloseWait(t *testing.T, addr string, n int) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, n)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	t.Cleanup(func() {
		ln.Close()
		for range len(held) {
			(<-held).Close()
		}
	})
	for len(held) < n {
		time.Sleep(time.Millisecond)
	}
	return ln
}

// dialMapped connects an AF_INET6 socket to a v4-mapped address and closes
// it from the client side (Go's net package would use an AF_INET socket).
func dialMapped(t *testing.T, to netip.AddrPort) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrInet6{Port: int(to.Port()), Addr: to.Addr().As16()}); err != nil {
		t.Fatal(err)
	}
}

// waitTimeWait waits until sockstat shows at least n TIME_WAIT sockets.
func waitTimeWait(t *testing.T, n int) advisor.Counters {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := ReadCounters("/proc")
		if err != nil {
			t.Fatal(err)
		}
		if c.TimeWait >= n || time.Now().After(deadline) {
			return c
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKernelObserveTimeWaitAndCloseWait(t *testing.T) {
	if !netnstest.Inside(t) {
		return
	}
	setSysctl(t, advisor.KeyPortRange, "40000 40999")
	setSysctl(t, advisor.KeyTwReuse, "0")
	srv := serveCloseOnEOF(t, "tcp", "127.0.0.1:9000")
	makeTimeWait(t, "tcp", "127.0.0.1:9000", 400)
	makeCloseWait(t, "127.0.0.1:9100", 120)
	srv.waitClosed(t, 400)
	counters := waitTimeWait(t, 400)

	// The clients' FINs are acknowledged at once on loopback, but on a
	// loaded machine a few sockets may still be in FIN_WAIT1 at the first
	// dump: take it again until every client reached FIN_WAIT2.
	var snap advisor.Snapshot
	for deadline := time.Now().Add(5 * time.Second); ; {
		var err error
		if snap, err = New("/proc", "/proc/sys").Observe(Full); err != nil {
			t.Fatal(err)
		}
		if snap.Sockets.States.Get(advisor.FinWait2) >= 120 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sum := snap.Sockets
	tw := sum.States.Get(advisor.TimeWait)
	if tw != 400 {
		t.Errorf("TIME_WAIT = %d, want 400", tw)
	}
	// sockstat's tw also counts the FIN_WAIT2 orphans (the CLOSE_WAIT
	// clients) that have become timewait socks.
	if fw2 := sum.States.Get(advisor.FinWait2); counters.TimeWait < tw || counters.TimeWait > tw+fw2 {
		t.Errorf("sockstat tw %d outside dump TIME_WAIT %d .. + FIN_WAIT2 %d", counters.TimeWait, tw, fw2)
	}
	if got := sum.States.Get(advisor.CloseWait); got != 120 {
		t.Errorf("CLOSE_WAIT = %d, want 120", got)
	}
	// Their clients closed: 120 orphans in FIN_WAIT2, held by no process.
	if fw2 := sum.States.Get(advisor.FinWait2); fw2 != 120 || sum.OrphanFinWait2 != 120 {
		t.Errorf("FIN_WAIT2 = %d, orphaned %d, want 120 and 120", fw2, sum.OrphanFinWait2)
	}
	for _, s := range sum.CloseWait {
		if s.Owner == nil || s.Owner.PID != os.Getpid() {
			t.Fatalf("CLOSE_WAIT %v owner = %+v, want pid %d", s.ID, s.Owner, os.Getpid())
		}
	}
	dest := advisor.DestKey{Local: netip.MustParseAddr("127.0.0.1"), Remote: netip.MustParseAddrPort("127.0.0.1:9000")}
	if got := sum.PerDestination[dest]; got.InUse != tw || got.TimeWait != tw {
		t.Errorf("ports in use towards 127.0.0.1:9000 = %+v, want %d, all TIME_WAIT", got, tw)
	}
	// The CLOSE_WAIT clients took ports towards 9100 too, so at least
	// the 400 TIME_WAIT ports are distinct; the CLOSE_WAIT server sockets
	// sit on the listening port 9100, outside the range.
	if got := sum.BySource[netip.MustParseAddr("127.0.0.1")]; got < 400 || got > 520 {
		t.Errorf("distinct ports on 127.0.0.1 = %d, want 400..520", got)
	}
	// Every TIME_WAIT socket is seconds old: younger than the 5 s window
	// at most, and none near expiry.
	if got := sum.PerDestination[dest]; got.TimeWaitExpiring != 0 || got.TimeWaitRecent > tw {
		t.Errorf("TIME_WAIT ages = %+v", got)
	}
	if snap.Sysctls.UsablePorts() != 1000 {
		t.Errorf("usable = %d, want 1000", snap.Sysctls.UsablePorts())
	}
	listening := map[uint16]bool{}
	for _, l := range sum.Listeners {
		listening[l.ID.Local.Port()] = true
		if l.Owner == nil || l.Owner.PID != os.Getpid() {
			t.Errorf("listener %v owner = %+v", l.ID.Local, l.Owner)
		}
	}
	if !listening[9000] || !listening[9100] {
		t.Errorf("listeners = %v, want 9000 and 9100", listening)
	}
}

func TestKernelObserveIPv6AndMapped(t *testing.T) {
	if !netnstest.Inside(t) {
		return
	}
	setSysctl(t, advisor.KeyPortRange, "40000 40999")
	srv := serveCloseOnEOF(t, "tcp", "[::]:9200") // dual-stack: "tcp" leaves IPV6_V6ONLY off
	makeTimeWait(t, "tcp6", "[::1]:9200", 30)
	// A dual-stack socket dialling an IPv4 address: the kernel shows it in
	// the AF_INET6 dump as ::ffff:127.0.0.1.
	for range 20 {
		dialMapped(t, netip.MustParseAddrPort("[::ffff:127.0.0.1]:9200"))
	}
	makeTimeWait(t, "tcp4", "127.0.0.1:9200", 10)
	srv.waitClosed(t, 60)
	waitTimeWait(t, 60)

	sum, err := DumpSockets(allStates, DumpConfig{Range: advisor.PortRange{Low: 40000, High: 40999}, ReuseDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v6 := advisor.DestKey{Local: netip.MustParseAddr("::1"), Remote: netip.MustParseAddrPort("[::1]:9200")}
	v4 := advisor.DestKey{Local: netip.MustParseAddr("127.0.0.1"), Remote: netip.MustParseAddrPort("127.0.0.1:9200")}
	if got := sum.PerDestination[v6].InUse; got != 30 {
		t.Errorf("[::1]:9200 = %d, want 30", got)
	}
	// Mapped and native IPv4 group together.
	if got := sum.PerDestination[v4].InUse; got != 30 {
		t.Errorf("127.0.0.1:9200 = %d, want 30 (20 mapped + 10 native)", got)
	}
	if len(sum.PerDestination) != 2 {
		t.Errorf("destinations = %v, want 2", sum.PerDestination)
	}
}

func TestKernelPreCheck(t *testing.T) {
	if !netnstest.Inside(t) {
		return
	}
	setSysctl(t, advisor.KeyPortRange, "32768 60999")
	srv := serveCloseOnEOF(t, "tcp", "127.0.0.1:9300")
	makeTimeWait(t, "tcp", "127.0.0.1:9300", 50)
	srv.waitClosed(t, 50)
	waitTimeWait(t, 50)
	o := New("/proc", "/proc/sys")

	quiet, err := o.Observe(Quiet)
	if err != nil {
		t.Fatal(err)
	}
	if advisor.CheckPorts(nil, advisor.CheapOf(quiet)).Dump {
		t.Fatalf("pre-check asks for a dump with %d sockets and %d ports",
			quiet.SocketsHoldingPorts(), quiet.Sysctls.UsablePorts())
	}
	if quiet.Sockets != nil {
		t.Errorf("quiet tick dumped %b", quiet.Sockets.Dumped)
	}
	detail, err := o.Observe(Detail)
	if err != nil {
		t.Fatal(err)
	}
	if detail.Sockets.Dumped&allStates != detailStates || detail.Sockets.States.Get(advisor.TimeWait) != 0 || len(detail.Sockets.Listeners) != 1 {
		t.Errorf("detail tick dumped %b with %d TIME_WAIT and %d listeners; want only CLOSE_WAIT and LISTEN",
			detail.Sockets.Dumped, detail.Sockets.States.Get(advisor.TimeWait), len(detail.Sockets.Listeners))
	}

	// 51 sockets hold ports (50 TIME_WAIT and the listener): a 110-port
	// range is under half used by them all, a 90-port one is not.
	setSysctl(t, advisor.KeyPortRange, "40000 40109")
	if s, err := o.Observe(Quiet); err != nil || s.Sockets != nil {
		t.Errorf("110-port range: dumped (err %v)", err)
	}
	setSysctl(t, advisor.KeyPortRange, "40000 40089")
	busy, err := o.Observe(Quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !advisor.CheckPorts(nil, advisor.CheapOf(busy)).Dump || busy.ExhaustionPossible() || busy.Sockets == nil || busy.Sockets.Dumped&allStates != allStates {
		t.Errorf("90-port range: needed=%v possible=%v, want the full dump", advisor.CheckPorts(nil, advisor.CheapOf(busy)).Dump, busy.ExhaustionPossible())
	}
}

// TestKernelBoundInactive: sockets bound to a port and never connected nor
// listening are dumped as TCP_BOUND_INACTIVE (Linux 6.8): their ports
// inside the range count once each, not the ones outside it nor a
// listener's, and they count for bind() on their address.
func TestKernelBoundInactive(t *testing.T) {
	if !netnstest.Inside(t) {
		return
	}
	if !boundInactiveDumped() {
		t.Skip("kernel older than 6.8: bound-only sockets are invisible to sock_diag")
	}
	setSysctl(t, advisor.KeyPortRange, "40000 40099")
	bind := func(addr string) {
		t.Helper()
		ap := netip.MustParseAddrPort(addr)
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
			t.Fatalf("bind %s: %v", addr, err)
		}
	}
	for _, a := range []string{"127.0.0.1:40010", "127.0.0.1:40011", "0.0.0.0:40012", "127.0.0.1:30000"} {
		bind(a)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:40020")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	snap, err := New("/proc", "/proc/sys").Observe(Full)
	if err != nil {
		t.Fatal(err)
	}
	sum := snap.Sockets
	if !sum.Dumped.Has(advisor.BoundInactive) || sum.BoundInactive != 4 || sum.BoundPortsInRange != 3 || sum.ListenPortsInRange != 1 {
		t.Errorf("bound-only sockets: dumped %v, %d sockets, %d ports in range, %d listening; want 4, 3, 1",
			sum.Dumped.Has(advisor.BoundInactive), sum.BoundInactive, sum.BoundPortsInRange, sum.ListenPortsInRange)
	}
	if n := sum.States.Total(); n != 1 {
		t.Errorf("%d sockets in the state histogram, want the listener alone: %v", n, sum.States.Map())
	}
}
