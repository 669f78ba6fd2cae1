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
	Time    time.Time `json:"time"`
	Samples int       `json:"samples"`
	// WindowSeconds is the time between the first and the last sample.
	WindowSeconds float64 `json:"window_seconds"`
	// States is the socket histogram by kernel state name; when the
	// pre-check skipped the bulk dump, TIME_WAIT comes from sockstat and
	// StatesComplete is false.
	States         map[string]int `json:"states"`
	StatesComplete bool           `json:"states_complete"`

	Ports        PortFindings      `json:"ports"`
	Destinations []DestinationUse  `json:"destinations"`
	Connections  ConnFindings      `json:"connections"`
	TimeWait     TimeWaitFindings  `json:"time_wait"`
	FinWait2     FinWait2Findings  `json:"fin_wait2"`
	CloseWait    CloseWaitFindings `json:"close_wait"`
	Queues       QueueFindings     `json:"queues"`
	// Degraded lists the fallbacks the samples needed (see
	// Snapshot.Degraded); absent when every source worked.
	Degraded []string `json:"degraded,omitempty"`
}

// PortFindings describes the ephemeral port range and the pre-check.
type PortFindings struct {
	Range PortRange `json:"range"`
	Size  int       `json:"size"`
	// ReservedInRange counts ip_local_reserved_ports inside the range.
	ReservedInRange int `json:"reserved_in_range"`
	// Usable is Size - ReservedInRange: the ports one destination can use.
	Usable int `json:"usable"`
	// SocketsHoldingPorts is sockstat's TCP inuse + TCP6 inuse + tw.
	SocketsHoldingPorts int `json:"sockets_holding_ports"`
	// ExhaustionPossible is false while SocketsHoldingPorts < Usable.
	ExhaustionPossible bool `json:"exhaustion_possible"`
	// DestinationCount is how many destinations hold ephemeral ports.
	DestinationCount int `json:"destination_count"`
	// DistinctInUse is how many distinct ephemeral ports outgoing sockets
	// hold; BindUtilization is DistinctInUse / Usable. bind() to port 0
	// needs a port nobody holds, so it fails as BindUtilization nears 1
	// even when every destination has room (DESIGN §3.1).
	DistinctInUse   int     `json:"distinct_in_use"`
	BindUtilization float64 `json:"bind_utilization"`
}

// DestinationUse is the ephemeral port use towards one destination.
type DestinationUse struct {
	Local      string `json:"local"`
	Remote     string `json:"remote"`
	PortsInUse int    `json:"ports_in_use"`
	// TimeWait is the part of PortsInUse in TIME_WAIT.
	TimeWait    int     `json:"time_wait"`
	PortsUsable int     `json:"ports_usable"`
	Utilization float64 `json:"utilization"`
	Headroom    int     `json:"headroom"`
	// GrowthPerSecond is the change of PortsInUse per second over the
	// window, when the first sample counted this destination too.
	GrowthPerSecond *float64 `json:"growth_per_second"`
}

// ConnFindings covers the rate of new outgoing connections and what it
// implies for the worst destination.
type ConnFindings struct {
	// ActiveOpensPerSecond is the Tcp ActiveOpens delta per second.
	ActiveOpensPerSecond *float64 `json:"active_opens_per_second"`
	// PassiveOpensPerSecond is the Tcp PassiveOpens delta per second.
	PassiveOpensPerSecond *float64 `json:"passive_opens_per_second"`
	// TimeWaitDemand is ActiveOpensPerSecond × 60 s: the TIME_WAIT ports an
	// active closer at this rate keeps busy.
	TimeWaitDemand *float64 `json:"time_wait_demand"`
	// Worst is the destination with the highest utilization.
	Worst *DestinationUse `json:"worst_destination"`
	// SecondsToExhaustion is the worst destination's headroom over its
	// growth rate (or, failing that, over ActiveOpensPerSecond, the most it
	// can grow); null when nothing grows.
	SecondsToExhaustion *float64 `json:"seconds_to_exhaustion"`
	// ExhaustionBasis names the rate SecondsToExhaustion used.
	ExhaustionBasis string `json:"exhaustion_basis,omitempty"`
}

// TimeWaitFindings covers TIME_WAIT load and bucket overflow.
type TimeWaitFindings struct {
	Count int `json:"count"`
	// Outgoing counts TIME_WAIT sockets on ephemeral local ports: those of
	// connections this host opened and closed first. Null when the
	// pre-check skipped the dump.
	Outgoing   *int `json:"outgoing"`
	MaxBuckets int  `json:"max_buckets"`
	// OverflowTotal is TcpExt TCPTimeWaitOverflow; OverflowDelta its rise
	// over the window.
	OverflowTotal float64 `json:"overflow_total"`
	OverflowDelta float64 `json:"overflow_delta"`
}

// FinWait2Findings covers orphaned sockets waiting for the peer's FIN, the
// only thing tcp_fin_timeout governs.
type FinWait2Findings struct {
	// Count is every FIN_WAIT2 socket in the latest dump that had them;
	// Orphaned those no process holds, the only ones tcp_fin_timeout ends
	// (a socket a process holds waits as long as the process keeps it).
	Count    int `json:"count"`
	Orphaned int `json:"orphaned"`
	// Orphans is sockstat's orphan count (all states).
	Orphans int `json:"orphans"`
	// MaxOrphans is 0 where tcp_max_orphans cannot be read (it is global
	// and hidden inside network namespaces).
	MaxOrphans int `json:"max_orphans"`
	FinTimeout int `json:"fin_timeout"`
}

// CloseWaitFindings covers CLOSE_WAIT sockets: the peer closed and the local
// application has not. No kernel timeout ends them.
type CloseWaitFindings struct {
	Count int `json:"count"`
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
	Stuck        *int       `json:"stuck"`
	StuckSockets []SocketID `json:"stuck_sockets"`
}

// OwnerCount is the number of CLOSE_WAIT sockets one process holds.
type OwnerCount struct {
	PID     int    `json:"pid"`
	Command string `json:"command"`
	Unit    string `json:"unit"`
	Count   int    `json:"count"`
	// Partial: the owner could be read only in part (see Owner).
	Partial bool `json:"partial,omitempty"`
}

// RemoteCount is the number of CLOSE_WAIT sockets towards one remote address.
type RemoteCount struct {
	Remote string `json:"remote"`
	Count  int    `json:"count"`
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
	Backlog Backlog `json:"backlog"`
	// FullListeners are listeners whose accept queue is at its backlog.
	Listeners []ListenerQueue `json:"listeners"`
	// ListenOverflowsDelta and ListenDropsDelta are TcpExt rises over the
	// window; the totals are since boot (or namespace creation).
	ListenOverflowsTotal float64 `json:"listen_overflows_total"`
	ListenOverflowsDelta float64 `json:"listen_overflows_delta"`
	ListenDropsDelta     float64 `json:"listen_drops_delta"`
}

// ListenerQueue is one listening socket's accept queue.
type ListenerQueue struct {
	Address string `json:"address"`
	Queued  uint32 `json:"queued"`
	Backlog uint32 `json:"backlog"`
	Owner   *Owner `json:"owner,omitempty"`
}
