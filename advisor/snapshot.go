package advisor

import (
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
	// Degraded names each source that failed and the fallback that stood
	// in for it, such as "sock_diag: ...; read /proc/net/tcp instead".
	Degraded []string `json:"degraded,omitempty"`
}

// Sysctls are the kernel settings tcp-advisor reasons about. Optional keys
// (absent on some kernels) are pointers.
type Sysctls struct {
	PortRange             PortRange `json:"ip_local_port_range"`
	ReservedPorts         PortSet   `json:"ip_local_reserved_ports"`
	UnprivilegedPortStart int       `json:"ip_unprivileged_port_start"`
	TCPTwReuse            int       `json:"tcp_tw_reuse"`
	TCPTwReuseDelayMs     *int      `json:"tcp_tw_reuse_delay,omitempty"`
	TCPFinTimeout         int       `json:"tcp_fin_timeout"`
	TCPMaxTwBuckets       int       `json:"tcp_max_tw_buckets"`
	TCPMaxOrphans         *int      `json:"tcp_max_orphans,omitempty"`
	Somaxconn             int       `json:"somaxconn"`
	TCPMaxSynBacklog      int       `json:"tcp_max_syn_backlog"`
	TCPSyncookies         int       `json:"tcp_syncookies"`
	TCPTimestamps         int       `json:"tcp_timestamps"`
	// Raw holds every key read, by full sysctl name, whitespace-normalized.
	Raw map[string]string `json:"raw"`
}

// UsablePorts is the number of ephemeral ports one destination can use.
func (s Sysctls) UsablePorts() int { return UsablePorts(s.PortRange, s.ReservedPorts) }

// Counters are the socket totals and TCP counters from /proc/net.
type Counters struct {
	// From /proc/net/sockstat and sockstat6.
	TCPInUse  int `json:"tcp_inuse"`
	TCP6InUse int `json:"tcp6_inuse"`
	TimeWait  int `json:"tw"`
	Orphan    int `json:"orphan"`
	// From /proc/net/snmp (Tcp).
	ActiveOpens  float64 `json:"active_opens"`
	PassiveOpens float64 `json:"passive_opens"`
	// From /proc/net/netstat (TcpExt).
	TimeWaitOverflow float64 `json:"tcp_time_wait_overflow"`
	ListenOverflows  float64 `json:"listen_overflows"`
	ListenDrops      float64 `json:"listen_drops"`
}

// SocketsHoldingPorts is the pre-check total of DESIGN §3.2: every TCP socket
// that may hold a local port, in any state.
func (c Counters) SocketsHoldingPorts() int { return c.TCPInUse + c.TCP6InUse + c.TimeWait }

// ExhaustionPossible is the pre-check of DESIGN §3.2: no destination can run
// out of ephemeral ports while fewer sockets than the usable range size hold
// local ports at all.
func (s Snapshot) ExhaustionPossible() bool {
	return s.Counters.SocketsHoldingPorts() >= s.Sysctls.UsablePorts()
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
	InUse    int
	TimeWait int
}

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
	// DistinctPorts is how many distinct local ports those sockets hold. A
	// bind() to port 0 needs a port no socket holds at all, so bind() runs
	// out when DistinctPorts reaches the usable range, however the sockets
	// spread over destinations.
	DistinctPorts int `json:"distinct_ports"`
	// OrphanFinWait2 counts the FIN_WAIT2 sockets no process holds (inode
	// 0): the orphans tcp_fin_timeout governs, kept as timewait socks that
	// sockstat counts in tw. A FIN_WAIT2 socket a process still holds
	// waits as long as the process keeps it.
	OrphanFinWait2 int `json:"orphan_fin_wait2"`
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
	Inode uint32 `json:"inode"`
	Owner *Owner `json:"owner,omitempty"`
}

// Owner is the process holding a socket and the systemd unit it runs in.
type Owner struct {
	PID     int    `json:"pid"`
	Command string `json:"command"`
	Unit    string `json:"unit"`
	// Partial is set when only part of the owner could be read: the
	// process exited or its pid was reused while it was looked at, or its
	// /proc files were missing or short. Command and Unit may then be
	// empty; the pid is the one whose fds held the socket.
	Partial bool `json:"partial,omitempty"`
}
