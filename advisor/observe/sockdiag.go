package observe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// Sizes from include/uapi/linux/inet_diag.h.
const (
	sizeofInetDiagReqV2 = 56
	sizeofInetDiagMsg   = 72
	dumpRetries         = 3
)

// inetDiagReq is struct inet_diag_req_v2 with an all-zero socket id: dump
// every TCP socket of one family whose state is in States. No extensions are
// asked for, so each reply is a bare 72-byte inet_diag_msg.
type inetDiagReq struct {
	Family uint8
	States advisor.StateSet
}

// Serialize encodes the request in host byte order, as the kernel reads it.
func (r *inetDiagReq) Serialize() []byte {
	b := make([]byte, sizeofInetDiagReqV2)
	b[0] = r.Family
	b[1] = unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(b[4:8], uint32(r.States))
	return b
}

// diagMsg is the part of struct inet_diag_msg tcp-advisor uses.
type diagMsg struct {
	State advisor.TCPState
	// Timer is idiag_timer: which timer Expires is for (timerTimeWait for
	// a timewait socket, whatever its substate).
	Timer   uint8
	Local   netip.AddrPort
	Remote  netip.AddrPort
	Cookie  uint64
	IfIndex uint32
	Expires uint32
	RQueue  uint32
	WQueue  uint32
	Inode   uint32
}

var errShortMsg = errors.New("inet_diag_msg: short message")

// parseDiagMsg decodes one inet_diag_msg. Addresses are unmapped, so a
// dual-stack socket talking to ::ffff:10.0.0.1 groups with IPv4 sockets to
// 10.0.0.1.
func parseDiagMsg(b []byte) (diagMsg, error) {
	if len(b) < sizeofInetDiagMsg {
		return diagMsg{}, errShortMsg
	}
	var m diagMsg
	family := b[0]
	m.State = advisor.TCPState(b[1])
	m.Timer = b[2]
	sport := binary.BigEndian.Uint16(b[4:6])
	dport := binary.BigEndian.Uint16(b[6:8])
	var src, dst netip.Addr
	switch family {
	case unix.AF_INET:
		src = netip.AddrFrom4([4]byte(b[8:12]))
		dst = netip.AddrFrom4([4]byte(b[24:28]))
	case unix.AF_INET6:
		src = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		dst = netip.AddrFrom16([16]byte(b[24:40])).Unmap()
	default:
		return diagMsg{}, fmt.Errorf("inet_diag_msg: family %d", family)
	}
	m.Local = netip.AddrPortFrom(src, sport)
	m.Remote = netip.AddrPortFrom(dst, dport)
	m.IfIndex = binary.NativeEndian.Uint32(b[40:44])
	m.Cookie = uint64(binary.NativeEndian.Uint32(b[44:48])) | uint64(binary.NativeEndian.Uint32(b[48:52]))<<32
	m.Expires = binary.NativeEndian.Uint32(b[52:56])
	m.RQueue = binary.NativeEndian.Uint32(b[56:60])
	m.WQueue = binary.NativeEndian.Uint32(b[60:64])
	m.Inode = binary.NativeEndian.Uint32(b[68:72])
	return m, nil
}

// aggregator folds dump messages into a SocketSummary as they stream in, so
// memory grows with destinations, sources and detailed sockets, not with the
// table.
type aggregator struct {
	cfg DumpConfig
	sum advisor.SocketSummary
	// listening marks listening ports: a socket on one is a server's
	// accepted connection, not an outgoing one, even inside the range.
	listening portBits
	// listenersInRange are the listeners and bound-only sockets inside
	// the range and not reserved, by address, for the per-source bind()
	// figures.
	listenersInRange []netip.AddrPort
	// listenerAt indexes Listeners by local address, to count each
	// one's SYN queue.
	listenerAt map[netip.AddrPort]int
	// bound marks the ports bound-only sockets hold inside the range.
	bound portBits
	// bySource marks, per local address, the ports outgoing sockets hold.
	bySource map[netip.Addr]*portBits
	err      error
}

// DumpConfig is what the aggregator needs from the sysctls read just before
// the dump.
type DumpConfig struct {
	Range    advisor.PortRange
	Reserved advisor.PortSet
	// ReuseDelay is tcp_tw_reuse_delay: TIME_WAIT sockets younger than it
	// are counted apart (DestCount.TimeWaitYoung).
	ReuseDelay time.Duration
	// FinTimeout is tcp_fin_timeout: orphaned FIN_WAIT2 sockets' ages
	// come from it.
	FinTimeout time.Duration
}

// DumpConfigOf returns the dump configuration the sysctls call for.
func DumpConfigOf(sc advisor.Sysctls) DumpConfig {
	return DumpConfig{
		Range:      sc.PortRange(),
		Reserved:   sc.ReservedPorts(),
		ReuseDelay: time.Duration(sc.Int(advisor.KeyTwReuseDelay)) * time.Millisecond,
		FinTimeout: time.Duration(sc.Int(advisor.KeyFinTimeout)) * time.Second,
	}
}

// portBits is a set of ports.
type portBits [65536 / 64]uint64

func (b *portBits) set(p uint16) (added bool) {
	w, m := p/64, uint64(1)<<(p%64)
	added = b[w]&m == 0
	b[w] |= m
	return added
}

func (b *portBits) has(p uint16) bool { return b[p/64]&(1<<(p%64)) != 0 }

func (b *portBits) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

func newAggregator(states advisor.StateSet, cfg DumpConfig) *aggregator {
	return &aggregator{
		cfg: cfg,
		sum: advisor.SocketSummary{
			Dumped:         states,
			PerDestination: make(map[advisor.DestKey]advisor.DestCount),
		},
		bySource:   make(map[netip.Addr]*portBits),
		listenerAt: make(map[netip.AddrPort]int),
	}
}

// loopbackIfIndex is LOOPBACK_IFINDEX: a timewait socket's idiag_if is the
// device it was bound to (tw_bound_dev_if).
const loopbackIfIndex = 1

// idiag_timer values (inet_diag_msg): the keepalive timer, which also
// times an orphan's FIN_WAIT2 while it is a full socket, and a timewait
// socket's timer (inet_twsk_diag_fill).
const (
	timerKeepalive = 2
	timerTimeWait  = 3
)

// orphanAge is how long ago an orphaned FIN_WAIT2 socket's wait began,
// from the timer it shows and the time left on it (see
// advisor.OrphanFinWait2Hold for the two phases), and whether it is
// within advisor.RateWindow of going.
func orphanAge(m diagMsg, fin time.Duration) (age time.Duration, expiring bool) {
	left := time.Duration(m.Expires) * time.Millisecond
	phase := fin - advisor.TimeWaitLen // the full-socket phase, when > 0
	switch {
	case m.Timer == timerTimeWait && phase <= 0:
		return max(fin-left, 0), left < advisor.RateWindow
	case m.Timer == timerTimeWait:
		return phase + max(phase-left, 0), left < advisor.RateWindow
	default:
		return max(phase-left, 0), false
	}
}

// Time-wait ages, in the milliseconds idiag_expires counts.
var (
	timeWaitMs   = uint32(advisor.TimeWaitLen.Milliseconds())
	rateWindowMs = uint32(advisor.RateWindow.Milliseconds())
)

func (a *aggregator) add(m diagMsg) {
	s := &a.sum
	if !m.State.Valid() {
		return
	}
	lport := m.Local.Port()
	// The kernel reports a bound-only socket in its real state, CLOSE
	// (inet_diag_dump_icsk's bind-hash walk): no other socket of the
	// dump is in that state, as CLOSE sockets are in no other hash.
	if m.State == advisor.BoundInactive || (m.State == advisor.Close && a.sum.Dumped.Has(advisor.BoundInactive)) {
		a.addBound(m)
		return
	}
	s.States[m.State]++
	switch m.State {
	case advisor.Listen:
		a.listenerAt[m.Local] = len(s.Listeners)
		s.Listeners = append(s.Listeners, detailed(m))
		first := a.listening.set(lport)
		if a.cfg.Range.Contains(int(lport)) && !a.cfg.Reserved.Contains(int(lport)) {
			if first {
				s.ListenPortsInRange++
			}
			a.listenersInRange = append(a.listenersInRange, m.Local)
		}
		return
	case advisor.CloseWait:
		s.CloseWait = append(s.CloseWait, detailed(m))
	case advisor.FinWait2:
		if m.Inode == 0 {
			s.OrphanFinWait2++
			if m.Timer == timerTimeWait {
				s.OrphanFinWait2TW++
			}
		}
	case advisor.SynRecv:
		a.addRequest(m)
	}
	if m.State.HoldsLocalPort() && m.Remote.Port() != 0 && a.cfg.Range.Contains(int(lport)) && !a.listening.has(lport) {
		k := advisor.DestKey{Local: m.Local.Addr(), Remote: m.Remote}
		c := s.PerDestination[k]
		c.InUse++
		if m.State != advisor.TimeWait && m.Inode != 0 {
			for i := range c.Inodes {
				if c.Inodes[i] == 0 {
					c.Inodes[i] = m.Inode
					break
				}
			}
		}
		if m.State == advisor.FinWait2 && m.Inode == 0 {
			c.FinWait2Orphaned++
			age, expiring := orphanAge(m, a.cfg.FinTimeout)
			if age < advisor.RateWindow {
				c.FinWait2Recent++
			}
			if expiring {
				c.FinWait2Expiring++
			}
		}
		if m.State == advisor.TimeWait {
			c.TimeWait++
			// idiag_expires is the time left; the age is what has passed
			// of the 60 s (TCP_TIMEWAIT_LEN).
			left := min(m.Expires, timeWaitMs)
			age := time.Duration(timeWaitMs-left) * time.Millisecond
			if age < a.cfg.ReuseDelay {
				c.TimeWaitYoung++
			}
			if m.IfIndex == loopbackIfIndex {
				c.TimeWaitOnLo++
				if age < a.cfg.ReuseDelay {
					c.TimeWaitOnLoYoung++
				}
			}
			if timeWaitMs-left < rateWindowMs {
				c.TimeWaitRecent++
			}
			if left < rateWindowMs {
				c.TimeWaitExpiring++
			}
		}
		s.PerDestination[k] = c
		s.Ephemeral[m.State]++
		b := a.bySource[k.Local]
		if b == nil {
			b = new(portBits)
			a.bySource[k.Local] = b
		}
		b.set(lport)
	}
	if m.RQueue > 0 {
		s.Queued.RecvQSockets++
		s.Queued.RecvQBytes += uint64(m.RQueue)
	}
	if m.WQueue > 0 {
		s.Queued.SendQSockets++
		s.Queued.SendQBytes += uint64(m.WQueue)
	}
}

// addRequest counts a request socket (SYN_RECV, on a listener's port) in
// its listener's SYN queue: the listener on its address, or the one on the
// wildcard address and the same port.
func (a *aggregator) addRequest(m diagMsg) {
	i, ok := a.listenerAt[m.Local]
	if !ok {
		i, ok = a.listenerAt[netip.AddrPortFrom(netip.IPv4Unspecified(), m.Local.Port())]
	}
	if !ok {
		i, ok = a.listenerAt[netip.AddrPortFrom(netip.IPv6Unspecified(), m.Local.Port())]
	}
	if ok {
		a.sum.Listeners[i].SynRecv++
	}
}

// addBound counts a socket bound to a port that neither connected nor
// listens (TCP_BOUND_INACTIVE). Its bind bucket came from bind(), so
// connect() skips its port for every destination (__inet_hash_connect),
// and bind() to port 0 on its address or the wildcard cannot have it.
func (a *aggregator) addBound(m diagMsg) {
	a.sum.BoundInactive++
	p := m.Local.Port()
	if p == 0 || !a.cfg.Range.Contains(int(p)) || a.cfg.Reserved.Contains(int(p)) {
		return
	}
	a.listenersInRange = append(a.listenersInRange, m.Local)
	a.bound.set(p)
}

// finish completes the per-source figures: bind() to port 0 on an address
// conflicts with sockets on that address and on the wildcard, so the
// listeners on either count for it.
func (a *aggregator) finish() {
	for w := range a.bound {
		a.sum.BoundPortsInRange += bits.OnesCount64(a.bound[w] &^ a.listening[w])
	}
	a.sum.BySource = make(map[netip.Addr]int, len(a.bySource))
	for addr, b := range a.bySource {
		for _, l := range a.listenersInRange {
			if l.Addr() == addr || l.Addr().IsUnspecified() {
				b.set(l.Port())
			}
		}
		a.sum.BySource[addr] = b.count()
	}
}

// consume parses and aggregates one message of the dump; it returns false,
// to stop the dump, at the first malformed one.
func (a *aggregator) consume(b []byte) bool {
	m, err := parseDiagMsg(b)
	if err != nil {
		a.err = err
		return false
	}
	a.add(m)
	return true
}

func detailed(m diagMsg) advisor.DetailedSocket {
	return advisor.DetailedSocket{
		ID:    advisor.SocketID{Local: m.Local, Remote: m.Remote, Cookie: m.Cookie},
		State: m.State,
		RecvQ: m.RQueue,
		SendQ: m.WQueue,
		Inode: m.Inode,
	}
}

// boundInactiveSince is the first kernel whose sock_diag dumps sockets
// bound to a port but neither connected nor listening, when asked for the
// pseudo-state TCP_BOUND_INACTIVE (commit 91051f003948, "tcp: Dump
// bound-only sockets in inet_diag"). Older kernels ignore the bit.
var boundInactiveSince = [2]int{6, 8}

// boundInactiveDumped reports whether the running kernel dumps bound-only
// sockets.
var boundInactiveDumped = sync.OnceValue(func() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return kernelAtLeast(unix.ByteSliceToString(u.Release[:]), boundInactiveSince)
})

// kernelAtLeast reports whether a kernel release such as
// "6.18.44-fc-v1300" is at least version want (major, minor).
func kernelAtLeast(release string, want [2]int) bool {
	var major, minor int
	if n, _ := fmt.Sscanf(release, "%d.%d", &major, &minor); n < 2 {
		return false
	}
	return major > want[0] || (major == want[0] && minor >= want[1])
}

// DumpSockets asks the kernel for the TCP sockets (IPv4 and IPv6) in the
// given states over NETLINK_SOCK_DIAG, in this process's network namespace,
// and aggregates them while the dump streams in. Local ports are counted per
// destination when they lie inside the range and are not listening ports,
// so the listeners are always dumped, and first (a LISTEN-only dump skips
// the established hash and costs little). Each pass asks for both families
// at once (TCPDIAG_GETSOCK), so that the kernel walks each hash table once,
// not once per family; a kernel that refuses it is asked per family. A dump that fails, or is
// interrupted (NLM_F_DUMP_INTR: the table changed under it), is retried
// from scratch, dumpRetries times in all.
func DumpSockets(states advisor.StateSet, cfg DumpConfig) (*advisor.SocketSummary, error) {
	return dumpSockets(dumpFamily, states, cfg)
}

// familyDumper dumps one address family's sockets in states into agg.
// dumpFamily is the netlink one; tests inject failures through others.
type familyDumper func(agg *aggregator, family uint8, states advisor.StateSet) error

func dumpSockets(dump familyDumper, states advisor.StateSet, cfg DumpConfig) (*advisor.SocketSummary, error) {
	listen := advisor.StatesOf(advisor.Listen)
	if boundInactiveDumped() {
		// The bind hash holds them: a walk that, like the listeners',
		// skips the established hash.
		listen |= advisor.StatesOf(advisor.BoundInactive)
	}
	states |= listen
	var err error
	for try := 0; try < dumpRetries; try++ {
		agg := newAggregator(states, cfg)
		err = nil
		families := dumpFamilies()
		for _, pass := range []advisor.StateSet{listen, states &^ listen} {
			for _, family := range families {
				if err == nil && pass != 0 {
					err = dump(agg, family, pass)
				}
			}
		}
		if errors.Is(err, errBothFamiliesRefused) && perFamily.CompareAndSwap(false, true) {
			try-- // not a failed try: ask again per family
			continue
		}
		if err == nil {
			agg.finish()
			return &agg.sum, nil
		}
	}
	return nil, fmt.Errorf("%w (%d tries)", err, dumpRetries)
}

// perFamily is set once a kernel refused TCPDIAG_GETSOCK: dumps then ask
// for each family apart.
var perFamily atomic.Bool

// dumpFamilies are the families each pass of a dump asks for: both at once
// (AF_UNSPEC, the TCPDIAG_GETSOCK request), which walks the kernel's hash
// tables once instead of once per family, unless the kernel refused that.
func dumpFamilies() []uint8 {
	if perFamily.Load() {
		return []uint8{unix.AF_INET, unix.AF_INET6}
	}
	return []uint8{unix.AF_UNSPEC}
}
