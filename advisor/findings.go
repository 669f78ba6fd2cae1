package advisor

import "time"

// TimeWaitLen is TCP_TIMEWAIT_LEN: a socket stays in TIME_WAIT for 60 s, a
// compile-time constant that no sysctl changes (include/net/tcp.h).
const TimeWaitLen = 60 * time.Second

// Findings is what analysis concludes from a window of snapshots, with the
// numbers behind each conclusion. Its JSON form is the documented output of
// `tcp-advisor diagnose --format json`; optional figures are pointers and
// are null when the window cannot tell (a single sample has no rates).
type Findings struct {
	Time time.Time `json:"time" jsondoc:"when the last sample was taken"`
	// Window is the samples the findings come from.
	Window WindowFindings `json:"window" jsondoc:"the samples the findings come from"`
	// States is the socket histogram by kernel state name; when the
	// pre-check skipped the bulk dump, TIME_WAIT comes from sockstat and
	// Window.StatesComplete is false.
	States map[string]int `json:"states" jsondoc:"kernel state name to count; empty states are left out"`

	Ports        PortFindings      `json:"ports" jsondoc:"the ephemeral range, the pre-check and bind() port use"`
	Destinations []DestinationUse  `json:"destinations" jsondoc:"most pressed first (top 20)"`
	Worst        *DestinationUse   `json:"worst" jsondoc:"the destination under the most pressure, with the keys of destinations; null when no destination holds ephemeral ports"`
	Connections  ConnFindings      `json:"connections" jsondoc:"the rates are null with a single sample"`
	TimeWait     TimeWaitFindings  `json:"time_wait" jsondoc:"TIME_WAIT load and bucket overflow"`
	FinWait2     FinWait2Findings  `json:"fin_wait2" jsondoc:"sockets waiting in FIN_WAIT2 for the peer's FIN"`
	Orphans      OrphanFindings    `json:"orphans" jsondoc:"sockstat's orphans, host-wide"`
	CloseWait    CloseWaitFindings `json:"close_wait" jsondoc:"CLOSE_WAIT sockets"`
	Queues       QueueFindings     `json:"queues" jsondoc:"socket queues and listen overflows"`
	// Events sums the kernel's connection events over the window.
	Events EventFindings `json:"events" jsondoc:"the kernel's connection events over the window"`
	// Degraded lists the fallbacks the samples needed (see
	// Snapshot.Degraded); absent when every source worked.
	Degraded []string `json:"degraded,omitempty" jsondoc:"present only when a source failed and a fallback stood in: the reasons, such as \"sock_diag AF_INET dump: dump interrupted (NLM_F_DUMP_INTR): ... read /proc/net/tcp{,6} instead\""`
}

// WindowFindings describes the window of samples findings come from; rules
// read it as the window variable.
type WindowFindings struct {
	Samples        int     `json:"samples" cty:"samples" doc:"samples (snapshots) in the window; CLOSE_WAIT figures count their own dumps, close_wait.samples"`
	Seconds        float64 `json:"seconds" cty:"seconds" doc:"seconds between the first and the last sample"`
	StatesComplete bool    `json:"states_complete" cty:"states_complete" doc:"the latest sample dumped every state, so states covers every state (else only TIME_WAIT, from sockstat) and the per-destination counts are whole"`
	SocketsDumped  bool    `json:"sockets_dumped" cty:"sockets_dumped" doc:"the latest sample has a socket dump, of every state or of some"`
}

// Range is the ephemeral port range, ip_local_port_range.
func (p PortFindings) Range() PortRange { return PortRange{Low: p.Low, High: p.High} }

// PortFindings describes the ephemeral port range, the pre-check and bind()
// port use.
type PortFindings struct {
	// Low and High are ip_local_port_range, inclusive; Size counts the
	// ports in it.
	Low  int `json:"low"`
	High int `json:"high"`
	Size int `json:"size"`
	// ReservedInRange counts ip_local_reserved_ports inside the range.
	ReservedInRange int `json:"reserved_in_range"`
	// ListenPortsInRange counts listening ports inside the range and not
	// reserved: bind() created their buckets, so connect() skips them
	// for every destination. Null when the socket table was not dumped.
	ListenPortsInRange *int `json:"listen_ports_in_range" jsondoc:"null without a socket dump"`
	// BoundPortsInRange counts the ports inside the range, not reserved
	// and not listening, that sockets bound but neither connected nor
	// listening hold; connect() skips them too. BoundInactive counts
	// those sockets wherever their port. Null where the kernel does not
	// dump them (before Linux 6.8) or the table was not dumped.
	BoundPortsInRange *int `json:"bound_ports_in_range" jsondoc:"null where the kernel, before Linux 6.8, does not dump them, or without a dump"`
	BoundInactive     *int `json:"bound_inactive" jsondoc:"bound-only sockets wherever their port; null as bound_ports_in_range"`
	// Usable is Size - ReservedInRange - ListenPortsInRange -
	// BoundPortsInRange: the ports one destination can use. Before Linux
	// 6.8, sockets bound to a port but not connected are invisible to
	// sock_diag; the pre-check then bounds them in the initial namespace.
	Usable int `json:"usable"`
	// SocketsHoldingPorts is the pre-check total (see
	// Snapshot.SocketsHoldingPorts).
	SocketsHoldingPorts int `json:"sockets_holding_ports"`
	// ExhaustionPossible is false while SocketsHoldingPorts < Usable.
	ExhaustionPossible bool `json:"exhaustion_possible"`
	// DestinationCount is how many destinations hold ephemeral ports.
	DestinationCount int `json:"destination_count"`
	// Sources is bind() port use per local address, busiest first.
	// bind() to port 0 needs a port no socket on the same address or the
	// wildcard holds, so it runs out per source address whatever the
	// destinations. BindSource, DistinctInUse and BindUtilization are the
	// busiest source's.
	Sources         []SourceUse `json:"sources" jsondoc:"bind() port use per local address, busiest first"`
	BindSource      string      `json:"bind_source"`
	DistinctInUse   int         `json:"distinct_in_use"`
	BindUtilization float64     `json:"bind_utilization"`
}

// SourceUse is the bind() port use of one local address.
type SourceUse struct {
	Local string `json:"local"`
	// DistinctPorts counts the ports inside the range that sockets on
	// this address or the wildcard hold; Utilization is that share of the
	// range less its reserved ports.
	DistinctPorts int     `json:"distinct_ports"`
	Utilization   float64 `json:"utilization"`
}

// DestinationUse is the ephemeral port use towards one destination, by the
// kernel's rules for connect() (see advisor/KERNEL.md).
type DestinationUse struct {
	Local  string `json:"local"`
	Remote string `json:"remote"`
	// Loopback is true when either address is a loopback address, where
	// tcp_tw_reuse = 2 applies.
	Loopback bool `json:"loopback"`
	// PortsInUse counts the sockets holding a port towards it, in any
	// state, as ss lists them; TimeWait the part of them in TIME_WAIT.
	PortsInUse int `json:"ports_in_use"`
	TimeWait   int `json:"time_wait"`
	// FinWait2Orphaned counts its orphaned FIN_WAIT2 sockets: closed
	// first towards a peer that has not closed, each waiting
	// OrphanHoldSeconds (from tcp_fin_timeout) for the peer's FIN.
	// tcp_tw_reuse never frees their ports. Open counts the rest, the
	// sockets not closed: PortsInUse - TimeWait - FinWait2Orphaned.
	FinWait2Orphaned int `json:"fin_wait2_orphaned"`
	Open             int `json:"open"`
	// ReuseInEffect is true when tcp_tw_reuse lets connect() take the
	// port of an older TIME_WAIT socket towards it (1, or 2 towards
	// loopback; timestamps on). TimeWaitReusable counts those older than
	// tcp_tw_reuse_delay, which then do not block connect().
	ReuseInEffect    bool `json:"tw_reuse_in_effect"`
	TimeWaitReusable int  `json:"time_wait_reusable"`
	// PortsUnavailable is PortsInUse - TimeWaitReusable: the ports
	// connect() cannot use towards it now.
	PortsUnavailable int     `json:"ports_unavailable"`
	PortsUsable      int     `json:"ports_usable"`
	Utilization      float64 `json:"utilization"`
	Headroom         int     `json:"headroom"`
	// CloseRate is the connections per second that enter TIME_WAIT
	// towards it, from the ages of its TIME_WAIT sockets in one dump.
	CloseRate float64 `json:"close_rate_per_second"`
	// HoldSeconds is how long a closed connection keeps its port from
	// connect(): 60 s (TIME_WAIT), or tcp_tw_reuse_delay where reuse is
	// in effect.
	HoldSeconds float64 `json:"hold_seconds"`
	// OrphanCloseRate is the connections per second that become orphans
	// in FIN_WAIT2 towards it, from their ages in one dump, and
	// OrphanHoldSeconds how long each keeps its port (see
	// OrphanFinWait2Hold); OrphanPlateau is their product, where the
	// orphans level off.
	OrphanCloseRate   float64 `json:"orphan_close_rate_per_second"`
	OrphanHoldSeconds float64 `json:"orphan_hold_seconds"`
	OrphanPlateau     int     `json:"orphan_plateau"`
	// Plateau is where PortsUnavailable levels off at the present rates:
	// Open plus CloseRate × HoldSeconds plus OrphanPlateau.
	// PlateauUtilization is its share of PortsUsable. A destination whose
	// plateau fits its usable ports never runs out, however fast it
	// climbs on the way.
	Plateau            int     `json:"plateau"`
	PlateauUtilization float64 `json:"plateau_utilization"`
	// PlateauWithReuse is the plateau tcp_tw_reuse = 1 would leave: each
	// TIME_WAIT socket holding its port tcp_tw_reuse_delay, not 60 s. It
	// equals Plateau where reuse is in effect already or cannot work
	// (tcp_timestamps off). It is not raised to the capacity of a full
	// destination, whose demand is unseen, but to the demand the kernel's
	// connection events measure where they are available: every attempt
	// keeping its port tcp_tw_reuse_delay.
	PlateauWithReuse int `json:"plateau_with_reuse"`
	// Full is true when no usable port is left (within 1 %): connect()
	// calls that fail with EADDRNOTAVAIL count nowhere, so the demand is
	// at least the capacity, and Plateau is a lower bound.
	Full bool `json:"full"`
	// GrowthPerSecond is the change of PortsUnavailable per second since
	// an earlier complete dump of the window; null without one.
	GrowthPerSecond *float64 `json:"growth_per_second" jsondoc:"null without an earlier complete dump"`
	// SecondsToExhaustion is the time until no usable port is left; null
	// when the destination does not run out at the present rates.
	// ExhaustionBasis names the rate it used.
	SecondsToExhaustion *float64 `json:"seconds_to_exhaustion" jsondoc:"null: does not run out"`
	ExhaustionBasis     string   `json:"exhaustion_basis,omitempty"`
	// Owners are the processes holding its open connections, from a
	// sample of them, most first: who opens the connections (TIME_WAIT
	// sockets have no owner). Empty when none was open at the dump.
	Owners []OwnerCount `json:"owners"`
	// From the kernel's connection events over the window (null, or
	// empty, where they are unavailable): the processes whose connect()
	// calls went towards it, most first; how many found no port, and of
	// those how many were a thread's immediate retry (ConnTotals.Retries);
	// the rates of attempts (calls less those retries, failed ones
	// included) and of failed attempts; and Demand, the ports every
	// attempt would hold for HoldSeconds — what a full destination needs,
	// measured, where its sockets show only its capacity.
	Openers           []Opener `json:"openers" jsondoc:"null or empty without the connection events, as the five keys after it"`
	ConnectFailures   *uint64  `json:"connect_failures"`
	ConnectRetries    *uint64  `json:"connect_retries"`
	OpensPerSecond    *float64 `json:"opens_per_second"`
	FailuresPerSecond *float64 `json:"failures_per_second"`
	Demand            *int     `json:"demand"`
}

// Pressure orders destinations by risk: the higher of the present and the
// plateau utilization.
func (d DestinationUse) Pressure() float64 { return max(d.Utilization, d.PlateauUtilization) }

// ConnFindings covers the host's rate of new connections.
type ConnFindings struct {
	// ActiveOpensPerSecond is the Tcp ActiveOpens delta per second: every
	// connect() attempt that sent a SYN, failed ones and connections the
	// peer closes first included; a connect() that found no port never
	// counts.
	ActiveOpensPerSecond *float64 `json:"active_opens_per_second"`
	// PassiveOpensPerSecond is the Tcp PassiveOpens delta per second.
	PassiveOpensPerSecond *float64 `json:"passive_opens_per_second"`
	// TimeWaitDemandBound is ActiveOpensPerSecond × 60 s: an upper bound
	// on the TIME_WAIT sockets the whole host's outgoing connections
	// could keep, never one destination's demand.
	TimeWaitDemandBound *float64 `json:"time_wait_demand_bound"`
}

// TimeWaitFindings covers TIME_WAIT load and bucket overflow.
type TimeWaitFindings struct {
	Count int `json:"count"`
	// BucketsInUse is sockstat's tw: every timewait socket, TIME_WAIT and
	// orphaned FIN_WAIT2 alike, each holding one of tcp_max_tw_buckets; at
	// least Count plus FinWait2.OrphanedTimeWait, which the dump saw.
	BucketsInUse int `json:"buckets_in_use"`
	// Outgoing counts TIME_WAIT sockets on ephemeral local ports: those of
	// connections this host opened and closed first. Null when the
	// pre-check skipped the dump.
	Outgoing   *int `json:"outgoing" jsondoc:"null when the pre-check skipped the socket dump"`
	MaxBuckets int  `json:"max_buckets"`
	// OverflowTotal is TcpExt TCPTimeWaitOverflow; OverflowDelta its rise
	// over the window.
	OverflowTotal float64 `json:"overflow_total"`
	OverflowDelta float64 `json:"overflow_delta"`
}

// FinWait2Findings covers sockets waiting in FIN_WAIT2 for the peer's FIN.
type FinWait2Findings struct {
	// Count is every FIN_WAIT2 socket in the latest dump that had them;
	// Orphaned those no process holds, the only ones tcp_fin_timeout ends
	// (a socket a process holds waits as long as the process keeps it).
	Count    int `json:"count" cty:"count" doc:"FIN_WAIT2 sockets, full sockets and timewait minisocks alike (from the latest dump that included FIN_WAIT2)"`
	Orphaned int `json:"orphaned" cty:"orphaned" doc:"those no process holds (inode 0): the orphans tcp_fin_timeout ends. A FIN_WAIT2 socket a process holds (a half-close with shutdown()) waits as long as the process keeps it"`
	// OrphanedTimeWait is the part of Orphaned that are timewait sockets
	// (substate FIN_WAIT2), which take tcp_max_tw_buckets; the rest are
	// still full sockets, counted in sockstat's orphan.
	OrphanedTimeWait int `json:"orphaned_timewait" cty:"orphaned_timewait" doc:"the part of orphaned that are timewait sockets in substate FIN_WAIT2 (the rest are still full sockets, with tcp_fin_timeout over 60 s)"`
	FinTimeout       int `json:"fin_timeout" cty:"fin_timeout" doc:"tcp_fin_timeout"`
	// OrphanHoldSeconds is how long each orphan waits (OrphanFinWait2Hold).
	OrphanHoldSeconds float64 `json:"orphan_hold_seconds" cty:"orphan_hold_seconds" doc:"how long an orphan waits for its peer's FIN: tcp_fin_timeout, or twice tcp_fin_timeout - 60 when that is longer (as a full socket, then as a timewait socket)"`
}

// OrphanFindings covers the host's orphaned sockets (closed by their
// process, still held by the kernel), counted host-wide whatever the
// namespace.
type OrphanFindings struct {
	// Count is sockstat's orphan count, every state.
	Count int `json:"count" cty:"count" doc:"sockstat's orphaned full sockets (all states, host-wide whatever the namespace). An orphan in FIN_WAIT2 whose FIN was acknowledged is a timewait socket (at once with tcp_fin_timeout ≤ 60 s, after tcp_fin_timeout - 60 s otherwise), counted in sockstat's tw and in tcp_max_tw_buckets, not here"`
	// Max is tcp_max_orphans; 0 where it cannot be read (it is global and
	// absent inside namespaces other than the initial one).
	Max int `json:"max" cty:"max" doc:"tcp_max_orphans (0 where unreadable: it is global and absent inside namespaces other than the initial one)"`
}

// CloseWaitFindings covers CLOSE_WAIT sockets: the peer closed and the local
// application has not. No kernel timeout ends them.
type CloseWaitFindings struct {
	Count int `json:"count"`
	// UnreadEOF counts CLOSE_WAIT sockets with Recv-Q 1 or more: the
	// application never read the peer's FIN (it is the one queued byte
	// when no data is). EOFRead counts those with Recv-Q 0: the
	// application read end-of-file and still never called close().
	UnreadEOF int `json:"unread_eof"`
	EOFRead   int `json:"eof_read"`
	// Growth is the count's change from the first to the last sample.
	Growth   int           `json:"growth"`
	ByOwner  []OwnerCount  `json:"by_owner"`
	ByRemote []RemoteCount `json:"by_remote"`
	Remotes  int           `json:"remotes"`
	Pattern  RemotePattern `json:"pattern"`
	// Samples is how many socket dumps with CLOSE_WAIT the figures come
	// from (the agent dumps them less often than it ticks).
	Samples int `json:"samples"`
	// Stuck counts sockets present in every one of those dumps; null with
	// a single dump.
	Stuck        *int       `json:"stuck" jsondoc:"null with a single dump"`
	StuckSockets []SocketID `json:"stuck_sockets"`
}

// OwnerCount is the number of sockets one process holds.
type OwnerCount struct {
	PID     int    `json:"pid"`
	Command string `json:"command"`
	Unit    string `json:"unit"`
	Count   int    `json:"count"`
	// For CLOSE_WAIT owners: the local port most of its sockets are on
	// (the service that leaks), and the file descriptors the process
	// holds against its RLIMIT_NOFILE — sockets a leak has already lost
	// to a reset leave CLOSE_WAIT but keep their descriptor, so the
	// descriptors, not the CLOSE_WAIT count, say when accept() and open()
	// fail with "Too many open files". FDGrowthPerSecond and
	// SecondsToFDLimit come from the first and last CLOSE_WAIT dumps;
	// null without growth.
	LocalPort         int      `json:"local_port,omitempty"`
	FDs               int      `json:"fds,omitempty"`
	FDLimit           int      `json:"fd_limit,omitempty"`
	FDGrowthPerSecond *float64 `json:"fd_growth_per_second,omitempty" jsondoc:"absent without growth, as seconds_to_fd_limit"`
	SecondsToFDLimit  *float64 `json:"seconds_to_fd_limit,omitempty"`
	// Partial: the owner could be read only in part (see Owner).
	Partial bool `json:"partial,omitempty" jsondoc:"true when the owner could be read only in part"`
}

// RemoteCount is the number of CLOSE_WAIT sockets towards one remote address.
type RemoteCount struct {
	Remote string `json:"remote" cty:"remote" doc:"the remote address"`
	Count  int    `json:"count" cty:"count" doc:"CLOSE_WAIT sockets towards it"`
}

// RemotePattern names how CLOSE_WAIT sockets spread over remote addresses.
type RemotePattern string

// The remote patterns.
const (
	PatternNone RemotePattern = "none"
	// PatternOneRemote: one remote address holds at least half the sockets.
	PatternOneRemote RemotePattern = "one-remote-dominates"
	// PatternManyRemotes: many remotes with one or two sockets each.
	PatternManyRemotes RemotePattern = "many-remotes"
	// PatternSeveralRemotes: anything between.
	PatternSeveralRemotes RemotePattern = "several-remotes"
)

// QueueFindings covers bytes waiting in socket queues and listen overflows.
type QueueFindings struct {
	// Backlog is the bytes waiting in connected sockets' queues; its
	// figures are queues' own in JSON (recvq_sockets, ...).
	Backlog
	// Listeners are the listeners with connections waiting in their
	// accept queue.
	Listeners []ListenerQueue `json:"listeners" jsondoc:"listeners with a non-empty accept queue"`
	// ListenOverflowsDelta and ListenDropsDelta are TcpExt rises over the
	// window; the totals are since boot (or namespace creation).
	ListenOverflowsTotal float64 `json:"listen_overflows_total"`
	ListenOverflowsDelta float64 `json:"listen_overflows_delta"`
	ListenDropsDelta     float64 `json:"listen_drops_delta"`
	// SynQueues are the listeners with request sockets (SYN_RECV) waiting
	// for the handshake's last ACK, fullest first; empty when the dump
	// did not include SYN_RECV.
	SynQueues []SynQueue `json:"syn_queues" jsondoc:"listeners with request sockets"`
	// ReqQFullDropDelta and ReqQFullDoCookiesDelta are the rises of
	// TcpExt TCPReqQFullDrop and TCPReqQFullDoCookies over the window:
	// SYNs a full SYN queue dropped (tcp_syncookies 0) or answered with a
	// syncookie.
	ReqQFullDropDelta      float64 `json:"req_q_full_drop_delta"`
	ReqQFullDoCookiesDelta float64 `json:"req_q_full_do_cookies_delta"`
}

// SynQueue is one listener's SYN queue.
type SynQueue struct {
	Address string `json:"address"`
	// SynRecv counts its request sockets; Backlog is its limit, the
	// listen() backlog capped by net.core.somaxconn at listen() time,
	// which bounds the accept queue too.
	SynRecv uint32 `json:"syn_recv"`
	Backlog uint32 `json:"backlog"`
	Owner   *Owner `json:"owner,omitempty" jsondoc:"absent when unknown"`
}

// Full reports whether the SYN queue is full: tcp_conn_request() refuses a
// new request socket once the queue holds more than the backlog
// (inet_csk_reqsk_queue_is_full), dropping the SYN or answering it with a
// syncookie.
func (q SynQueue) Full() bool { return q.SynRecv > q.Backlog }

// ListenerQueue is one listening socket's accept queue.
type ListenerQueue struct {
	Address string `json:"address"`
	Queued  uint32 `json:"queued"`
	// Backlog is min(the listen() backlog, somaxconn), fixed at listen().
	Backlog uint32 `json:"backlog"`
	Owner   *Owner `json:"owner,omitempty" jsondoc:"absent when unknown"`
}

// Full reports whether the accept queue is full: the kernel drops the next
// completed handshake once more than Backlog connections wait
// (sk_acceptq_is_full), so a queue is full at Backlog + 1.
func (l ListenerQueue) Full() bool { return l.Queued > l.Backlog }

// OrphanFinWait2Hold is how long an orphaned socket waits in FIN_WAIT2 for
// its peer's FIN, given tcp_fin_timeout in seconds. Up to 60 s
// (TCP_TIMEWAIT_LEN) it is a timewait socket for tcp_fin_timeout
// (tcp_time_wait() from tcp_rcv_state_process() or tcp_close()). Longer,
// it stays a full socket for tcp_fin_timeout − 60 s, and then
// tcp_keepalive_timer() hands tcp_time_wait() the same tcp_fin_timeout −
// 60 s: twice that in all (measured on 6.18: 70 s lasts 20 s).
func OrphanFinWait2Hold(finTimeout int) time.Duration {
	fin := time.Duration(finTimeout) * time.Second
	if fin <= TimeWaitLen {
		return fin
	}
	return 2 * (fin - TimeWaitLen)
}
