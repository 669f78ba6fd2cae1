package observe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
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
	State   advisor.TCPState
	Local   netip.AddrPort
	Remote  netip.AddrPort
	Cookie  uint64
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
	// listenersInRange are the listeners inside the range and not
	// reserved, by address, for the per-source bind() figures.
	listenersInRange []netip.AddrPort
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
}

// DumpConfigOf returns the dump configuration the sysctls call for.
func DumpConfigOf(sc advisor.Sysctls) DumpConfig {
	return DumpConfig{
		Range:      sc.PortRange(),
		Reserved:   sc.ReservedPorts(),
		ReuseDelay: time.Duration(sc.Int(advisor.KeyTwReuseDelay)) * time.Millisecond,
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
		bySource: make(map[netip.Addr]*portBits),
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
	s.States[m.State]++
	lport := m.Local.Port()
	switch m.State {
	case advisor.Listen:
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
		}
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
		if m.State == advisor.TimeWait {
			c.TimeWait++
			// idiag_expires is the time left; the age is what has passed
			// of the 60 s (TCP_TIMEWAIT_LEN).
			left := min(m.Expires, timeWaitMs)
			age := time.Duration(timeWaitMs-left) * time.Millisecond
			if age < a.cfg.ReuseDelay {
				c.TimeWaitYoung++
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

// finish completes the per-source figures: bind() to port 0 on an address
// conflicts with sockets on that address and on the wildcard, so the
// listeners on either count for it.
func (a *aggregator) finish() {
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

// DumpSockets asks the kernel for the TCP sockets (IPv4 and IPv6) in the
// given states over NETLINK_SOCK_DIAG, in this process's network namespace,
// and aggregates them while the dump streams in. Local ports are counted per
// destination when they lie inside the range and are not listening ports,
// so the listeners are always dumped, and first (a LISTEN-only dump skips
// the established hash and costs little). A dump that fails, or is
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
	states |= listen
	var err error
	for range dumpRetries {
		agg := newAggregator(states, cfg)
		err = nil
		for _, pass := range []advisor.StateSet{listen, states &^ listen} {
			for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
				if err == nil && pass != 0 {
					err = dump(agg, family, pass)
				}
			}
		}
		if err == nil {
			agg.finish()
			return &agg.sum, nil
		}
	}
	return nil, fmt.Errorf("%w (%d tries)", err, dumpRetries)
}
