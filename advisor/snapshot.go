package advisor

import (
	"fmt"
	"net/netip"
	"time"
)

// Snapshot is one observation of the host's TCP stack: sysctls, counters and,
// when the pre-check or a caller asked for it, a summary of the socket table.
type Snapshot struct {
	Time     time.Time      `json:"time"`
	Sysctls  Sysctls        `json:"sysctls"`
	Counters Counters       `json:"counters"`
	Sockets  *SocketSummary `json:"sockets,omitempty"`
	// Events are the kernel's connection events in the namespace since
	// the previous snapshot of the same observer; nil where they are
	// unavailable, and EventsUnavailable says why ("kernel events
	// unavailable: REASON"; empty when nobody asked for them).
	Events            *ConnEvents `json:"events,omitempty"`
	EventsUnavailable string      `json:"events_unavailable,omitempty"`
	// Precheck is what the pre-check decided about the socket dump and
	// why; nil when nothing decided (a snapshot made by hand).
	Precheck *Precheck `json:"precheck,omitempty"`
	// Degraded names each source that failed and the fallback that stood
	// in for it, such as "sock_diag: ...; read /proc/net/tcp instead".
	Degraded []string `json:"degraded,omitempty"`
}

// UsablePorts is the number of ephemeral ports one destination can use,
// before the ports listeners hold inside the range (see
// SocketSummary.ListenPortsInRange).
func (s Sysctls) UsablePorts() int { return UsablePorts(s.PortRange(), s.ReservedPorts()) }

// Counters are the socket totals and TCP counters from /proc/net.
type Counters struct {
	// From /proc/net/sockstat and sockstat6.
	TCPInUse  int `json:"tcp_inuse"`
	TCP6InUse int `json:"tcp6_inuse"`
	TimeWait  int `json:"tw"`
	// Orphan and Alloc are host-wide whatever the namespace: the kernel
	// keeps one count of orphaned and of allocated TCP sockets.
	Orphan int `json:"orphan"`
	Alloc  int `json:"alloc"`
	// From /proc/net/snmp (Tcp).
	ActiveOpens  float64 `json:"active_opens"`
	PassiveOpens float64 `json:"passive_opens"`
	// From /proc/net/netstat (TcpExt).
	TimeWaitOverflow float64 `json:"tcp_time_wait_overflow"`
	ListenOverflows  float64 `json:"listen_overflows"`
	ListenDrops      float64 `json:"listen_drops"`
	// SYN queue overflows (tcp_syn_flood_action): a SYN dropped, with
	// tcp_syncookies 0, or answered with a cookie instead of a request
	// socket.
	ReqQFullDrop      float64 `json:"tcp_req_q_full_drop"`
	ReqQFullDoCookies float64 `json:"tcp_req_q_full_do_cookies"`
}

// SocketsHoldingPorts is the pre-check total (advisor/KERNEL.md, "The
// pre-check"): every TCP socket that may hold a local port. Hashed sockets
// (sockstat inuse, IPv4 and IPv6) and timewait sockets (tw) are this
// namespace's. Sockets bound but not connected hold a port too, yet sit in
// no hash that inuse counts; in the initial namespace, alloc (every TCP
// socket of the host) less the hashed ones bounds them from above, so the
// total counts them. Elsewhere alloc is the host's, not the namespace's,
// and they stay invisible.
func (s Snapshot) SocketsHoldingPorts() int {
	c := s.Counters
	hashed := c.TCPInUse + c.TCP6InUse
	if s.Sockets != nil && s.Sockets.Dumped.Has(BoundInactive) {
		// The kernel dumped the bound-only sockets (Linux 6.8): count
		// them, in any namespace, instead of the estimate.
		return hashed + s.Sockets.BoundInactive + c.TimeWait
	}
	if s.Sysctls.InitialNamespace() {
		hashed = max(hashed, c.Alloc)
	}
	return hashed + c.TimeWait
}

// ExhaustionPossible is the pre-check: no destination can run out of
// ephemeral ports while fewer sockets than the usable range size hold
// local ports at all.
func (s Snapshot) ExhaustionPossible() bool {
	return s.SocketsHoldingPorts() >= s.Sysctls.UsablePorts()
}

// DestKey names a destination as the kernel's port allocator sees it: the
// 4-tuple must be unique, so the ports available towards one (source address,
// remote address, remote port) are the whole usable range.
type DestKey struct {
	Local  netip.Addr
	Remote netip.AddrPort
}

// DestCount is the port use towards one destination.
type DestCount struct {
	// InUse counts the sockets holding a local port towards it, in any
	// state; TimeWait the part of them in TIME_WAIT.
	InUse    int `json:"in_use"`
	TimeWait int `json:"time_wait"`
	// The TIME_WAIT sockets by age (60 s less idiag_expires, the time
	// left): younger than tcp_tw_reuse_delay, which connect() cannot
	// reuse even where tcp_tw_reuse is in effect; younger than RateWindow,
	// the arrivals that give the close rate; and within RateWindow of
	// expiring.
	TimeWaitYoung    int `json:"time_wait_young"`
	TimeWaitRecent   int `json:"time_wait_recent"`
	TimeWaitExpiring int `json:"time_wait_expiring"`
	// FinWait2Orphaned counts the orphaned FIN_WAIT2 sockets towards it:
	// closed by their process, waiting tcp_fin_timeout for the peer's FIN
	// (as timewait sockets in substate FIN_WAIT2 once their FIN is
	// acknowledged). tcp_tw_reuse never takes their ports. By age, as for
	// TIME_WAIT: younger than RateWindow, and within RateWindow of going.
	// TimeWaitOnLo counts the TIME_WAIT sockets bound to the loopback
	// device (SO_BINDTODEVICE "lo"), TimeWaitOnLoYoung those of them
	// younger than tcp_tw_reuse_delay: tcp_tw_reuse = 2 reuses such a
	// socket whatever its addresses (tcp_twsk_unique).
	TimeWaitOnLo      int `json:"time_wait_on_lo,omitempty"`
	TimeWaitOnLoYoung int `json:"time_wait_on_lo_young,omitempty"`
	FinWait2Orphaned  int `json:"fin_wait2_orphaned"`
	FinWait2Recent    int `json:"fin_wait2_recent"`
	FinWait2Expiring  int `json:"fin_wait2_expiring"`
	// Inodes samples the sockets towards it that a process holds (not in
	// TIME_WAIT): their owners are who opens the connections.
	Inodes [SampledInodes]uint32 `json:"inodes"`
}

// Open counts the sockets towards the destination that are not closed:
// neither TIME_WAIT nor orphaned FIN_WAIT2.
func (c DestCount) Open() int { return c.InUse - c.TimeWait - c.FinWait2Orphaned }

// SampledInodes is how many sockets per destination are kept to find the
// processes that open its connections.
const SampledInodes = 8

// RateWindow is the slice of TIME_WAIT ages that measures a destination's
// close rate from one dump: the sockets that entered TIME_WAIT in the last
// RateWindow, over RateWindow. It is short so that a load that started a
// few seconds ago is measured at its rate, not averaged over 60 s.
const RateWindow = 5 * time.Second

// SocketID identifies one socket across samples.
type SocketID struct {
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
	Cookie uint64         `json:"cookie"`
}

// SocketSummary is what one sock_diag dump leaves after aggregation: counts
// for the bulk of sockets and detail only for the few that need it.
type SocketSummary struct {
	// Dumped is the set of states the kernel was asked for.
	Dumped StateSet    `json:"-"`
	States StateCounts `json:"-"`
	// PerDestination counts, by destination, the connected sockets whose
	// local port lies in the ephemeral range and is not a listening port:
	// this host's outgoing connections.
	PerDestination map[DestKey]DestCount `json:"-"`
	// Ephemeral counts the same sockets by state. Its TIME_WAIT entry is
	// the active closer's share of TIME_WAIT.
	Ephemeral StateCounts `json:"-"`
	// BySource counts, per local address, the distinct ports inside the
	// range that sockets on that address or on the wildcard address hold:
	// outgoing sockets and listeners. bind() to port 0 on an address needs
	// a port no socket on that address or the wildcard holds
	// (inet_csk_bind_conflict), so it runs out per source address,
	// however the sockets spread over destinations.
	BySource map[netip.Addr]int `json:"by_source"`
	// ListenPortsInRange counts the distinct listening ports inside the
	// range that ip_local_reserved_ports does not already hold back. A
	// bind() created their bind buckets, and connect() skips such a port
	// for every destination (__inet_hash_connect).
	ListenPortsInRange int `json:"listen_ports_in_range"`
	// UDPPorts are the local ports of UDP sockets. The port range and the
	// reserved list govern UDP port choice too, so a widened range must
	// reserve the UDP services' ports it takes in. Nil when UDP was not
	// dumped.
	UDPPorts PortSet `json:"udp_ports"`
	// OrphanFinWait2 counts the FIN_WAIT2 sockets no process holds (inode
	// 0): the orphans tcp_fin_timeout governs. OrphanFinWait2TW is the
	// part of them that are timewait sockets (substate FIN_WAIT2), which
	// sockstat counts in tw and which take tcp_max_tw_buckets like
	// TIME_WAIT; the rest are still full sockets (tcp_fin_timeout > 60 s).
	// A FIN_WAIT2 socket a process still holds waits as long as the
	// process keeps it.
	OrphanFinWait2   int `json:"orphan_fin_wait2"`
	OrphanFinWait2TW int `json:"orphan_fin_wait2_timewait"`
	// BoundInactive counts the sockets bound to a port that neither
	// connected nor listen, and BoundPortsInRange their distinct ports
	// inside the range, not reserved and not a listener's: connect()
	// skips them for every destination, like listening ports. Both are
	// known only when the kernel dumps such sockets (Linux 6.8,
	// TCP_BOUND_INACTIVE) and Dumped has BoundInactive.
	BoundInactive     int `json:"bound_inactive"`
	BoundPortsInRange int `json:"bound_ports_in_range"`
	// DestOwners are the processes holding the sampled sockets of the
	// busiest destinations, by destination.
	DestOwners map[DestKey][]Owner `json:"-"`
	// CloseWait lists every CLOSE_WAIT socket.
	CloseWait []DetailedSocket `json:"close_wait"`
	// Listeners lists every listening socket.
	Listeners []DetailedSocket `json:"listeners"`
	// Queued counts connected sockets with bytes waiting, and the bytes.
	Queued Backlog `json:"queued"`
}

// Backlog totals queued bytes over connected sockets.
type Backlog struct {
	RecvQSockets int    `json:"recvq_sockets"`
	RecvQBytes   uint64 `json:"recvq_bytes"`
	SendQSockets int    `json:"sendq_sockets"`
	SendQBytes   uint64 `json:"sendq_bytes"`
}

// DetailedSocket is a socket kept whole: CLOSE_WAIT and LISTEN sockets, which
// analysis attributes to an owner.
type DetailedSocket struct {
	ID    SocketID `json:"id"`
	State TCPState `json:"state"`
	// RecvQ and SendQ; for a listener, the accept queue and its backlog.
	RecvQ uint32 `json:"recvq"`
	SendQ uint32 `json:"sendq"`
	// SynRecv is, for a listener, its SYN queue: the request sockets
	// (SYN_RECV) waiting for the handshake's last ACK. It is bounded by
	// the same backlog as the accept queue (inet_csk_reqsk_queue_is_full).
	// Counted only when the dump had SYN_RECV.
	SynRecv uint32 `json:"syn_recv"`
	Inode   uint32 `json:"inode"`
	Owner   *Owner `json:"owner,omitempty"`
}

// Owner is the process holding a socket and the systemd unit it runs in.
type Owner struct {
	PID     int    `json:"pid" cty:"pid" doc:"process id (0 when unknown)"`
	Command string `json:"command" cty:"command" doc:"its command (\"\" when unknown)"`
	Unit    string `json:"unit" cty:"unit" doc:"the systemd unit or container scope of its cgroup"`
	// FDs is how many file descriptors the process holds and FDLimit its
	// soft RLIMIT_NOFILE, when read (0: not read): a leak fails with "Too
	// many open files" when they meet. Read for CLOSE_WAIT owners.
	FDs     int `json:"fds,omitempty"`
	FDLimit int `json:"fd_limit,omitempty"`
	// Partial is set when only part of the owner could be read: the
	// process exited or its pid was reused while it was looked at, or its
	// /proc files were missing or short. Command and Unit may then be
	// empty; the pid is the one whose fds held the socket.
	Partial bool `json:"partial,omitempty"`
}

// Netns identifies a network namespace: its inode (what `ls -l
// /proc/PID/ns/net` shows as net:[INODE]) and, when `ip netns` named it,
// its name. The inode is no identity over time: a freed namespace's inode
// number goes to the next new one at once. Cookie (SO_NETNS_COOKIE, Linux
// 5.14+) is never reused within a boot, so Cookie with BootID names one
// namespace for good; both are zero where the kernel has no cookie.
type Netns struct {
	Inode  uint64 `json:"inode"`
	Name   string `json:"name,omitempty"`
	Cookie uint64 `json:"cookie,omitempty"`
	BootID string `json:"boot_id,omitempty"`
}

// String formats the namespace as "net:[INODE]" with its name, if any.
func (n Netns) String() string {
	if n.Name != "" {
		return fmt.Sprintf("%s (net:[%d])", n.Name, n.Inode)
	}
	return fmt.Sprintf("net:[%d]", n.Inode)
}
