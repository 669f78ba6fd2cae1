package advisor

import "fmt"

// TCPState is a kernel TCP state number as in include/net/tcp_states.h.
type TCPState uint8

// The kernel's TCP states, numbered as the kernel numbers them.
const (
	Established TCPState = 1 + iota
	SynSent
	SynRecv
	FinWait1
	FinWait2
	TimeWait
	Close
	CloseWait
	LastAck
	Listen
	Closing
	NewSynRecv
	maxState
)

// BoundInactive is TCP_BOUND_INACTIVE (Linux 6.8): not a state a socket is
// in but a pseudo-state sock_diag answers for when asked for it alone — a
// socket bound to a port that neither connected nor listens (state CLOSE,
// in the bind hash only). It is outside AllStates: a request for "every
// state" does not dump them.
const BoundInactive TCPState = 13

var stateNames = [...]string{
	Established: "ESTABLISHED",
	SynSent:     "SYN_SENT",
	SynRecv:     "SYN_RECV",
	FinWait1:    "FIN_WAIT1",
	FinWait2:    "FIN_WAIT2",
	TimeWait:    "TIME_WAIT",
	Close:       "CLOSE",
	CloseWait:   "CLOSE_WAIT",
	LastAck:     "LAST_ACK",
	Listen:      "LISTEN",
	Closing:     "CLOSING",
	NewSynRecv:  "NEW_SYN_RECV",
}

// String returns the kernel's name for the state, such as "TIME_WAIT".
func (s TCPState) String() string {
	if s > 0 && s < maxState {
		return stateNames[s]
	}
	if s == BoundInactive {
		return "BOUND_INACTIVE"
	}
	return fmt.Sprintf("STATE_%d", uint8(s))
}

// Valid reports whether s is a state the kernel defines.
func (s TCPState) Valid() bool { return s > 0 && s < maxState }

// AllStates lists every kernel TCP state in numeric order.
func AllStates() []TCPState {
	out := make([]TCPState, 0, maxState-1)
	for s := Established; s < maxState; s++ {
		out = append(out, s)
	}
	return out
}

// StateSet is a bit mask of TCP states, laid out like inet_diag's idiag_states.
type StateSet uint32

// StatesOf returns the set holding the given states.
func StatesOf(states ...TCPState) StateSet {
	var m StateSet
	for _, s := range states {
		m |= 1 << s
	}
	return m
}

// Has reports whether the set holds s.
func (m StateSet) Has(s TCPState) bool { return m&(1<<s) != 0 }

// HoldsLocalPort reports whether a socket in state s keeps its local port
// away from new connections to the same destination. Every state does except
// LISTEN (which is not towards a destination) and NEW_SYN_RECV (a request
// sock on a listener's port).
func (s TCPState) HoldsLocalPort() bool {
	return s.Valid() && s != Listen && s != NewSynRecv && s != Close
}

// StateCounts is a histogram of sockets by state, indexed by TCPState.
type StateCounts [maxState]int

// Get returns the count for state s.
func (c *StateCounts) Get(s TCPState) int {
	if !s.Valid() {
		return 0
	}
	return c[s]
}

// Total returns the number of sockets counted in every state.
func (c *StateCounts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Map returns the histogram keyed by state name, leaving out empty states.
func (c *StateCounts) Map() map[string]int {
	out := make(map[string]int)
	for _, s := range AllStates() {
		if c[s] > 0 {
			out[s.String()] = c[s]
		}
	}
	return out
}
