package advisor

import (
	"net/netip"
	"time"
)

// ConnEvents is what the kernel's connection events counted in one network
// namespace between Since and Until (advisor/KERNEL.md, "Connection
// events"): who opened connections towards which destination, whose
// connect() calls found no local port, and who closed first.
type ConnEvents struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Totals counts every event of the namespace, Flows the same events
	// by process and destination (without those the flow map had no room
	// for: Overflow counts them, host-wide).
	Totals   ConnTotals `json:"totals"`
	Flows    []ConnFlow `json:"flows"`
	Overflow uint64     `json:"overflow"`
	// OverflowTotal is Overflow since the events program was attached,
	// as of Until: host-wide, the same whichever namespace's events
	// carry it, so that counting it does not count each namespace anew.
	// Not recorded: a replay has none.
	OverflowTotal uint64 `json:"-"`
}

// ConnTotals are event counts.
type ConnTotals struct {
	// Opens counts connect() calls towards a destination (CLOSE ->
	// SYN_SENT, set before the port is chosen): every attempt, those that
	// then found no port included. Failures counts those (SYN_SENT ->
	// CLOSE with no local port: EADDRNOTAVAIL); ActiveCloses the
	// connections this side closed first (ESTABLISHED -> FIN_WAIT1).
	// Retries counts the failures that repeated, at once, the same
	// thread's previous failure towards the same destination (Go's dialer
	// calls connect() twice more on EADDRNOTAVAIL): each such call is
	// one of Opens and of Failures, and no new attempt of the program's.
	// Recordings made before it was counted read as 0.
	Opens        uint64 `json:"opens"`
	Failures     uint64 `json:"connect_failures"`
	ActiveCloses uint64 `json:"active_closes"`
	Retries      uint64 `json:"connect_retries,omitempty" jsondoc:"absent when 0"`
}

// Connected is the attempts that got a port: Opens less Failures.
func (t ConnTotals) Connected() uint64 { return t.Opens - min(t.Failures, t.Opens) }

// Attempts is the connections the programs tried to open: Opens less the
// immediate retries.
func (t ConnTotals) Attempts() uint64 { return t.Opens - min(t.Retries, t.Opens) }

// FailedAttempts is the attempts that found no port: Failures less the
// immediate retries.
func (t ConnTotals) FailedAttempts() uint64 { return t.Failures - min(t.Retries, t.Failures) }

// Add adds o's counts to t.
func (t *ConnTotals) Add(o ConnTotals) {
	t.Opens += o.Opens
	t.Failures += o.Failures
	t.ActiveCloses += o.ActiveCloses
	t.Retries += o.Retries
}

// ConnFlow is the events of one process (in one cgroup) towards one
// destination.
type ConnFlow struct {
	// PID and Command are the process in whose context the events came:
	// the caller of connect() for opens and failures, of close() or
	// shutdown() for active closes. Unit is its cgroup's systemd unit or
	// container scope, CgroupID the cgroup (v2) it names.
	PID      int    `json:"pid"`
	Command  string `json:"command"`
	Unit     string `json:"unit"`
	CgroupID uint64 `json:"cgroup_id"`
	// Local is the source address and Remote the destination of an
	// outgoing connection (one connect() was called on). Any other
	// connection (an accepted one) is keyed by its local port instead,
	// LocalPort, with no remote: its peer's port is a new one each time.
	Local     netip.Addr     `json:"local"`
	Remote    netip.AddrPort `json:"remote"`
	LocalPort uint16         `json:"local_port,omitempty"`
	ConnTotals
}

// Dest is the destination of an outgoing flow, as DestKey names it; ok is
// false for a flow keyed by its local port.
func (f ConnFlow) Dest() (k DestKey, ok bool) {
	if f.LocalPort != 0 {
		return DestKey{}, false
	}
	return DestKey{Local: f.Local.Unmap(), Remote: netip.AddrPortFrom(f.Remote.Addr().Unmap(), f.Remote.Port())}, true
}
