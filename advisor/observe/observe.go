// Package observe reads the kernel's TCP state for tcp-advisor: sysctls
// through go-sysctl, counters from /proc/net through procfs, the socket table
// over netlink sock_diag, and socket owners from /proc/<pid>. It only reads.
//
// An Observer from New reads the calling process's network namespace; one
// from NewIn reads another namespace from inside it (see Namespace).
package observe

import (
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// Depth says how much of the socket table an observation dumps. Whatever
// the depth, when the sockstat pre-check says a destination could be
// exhausted, every state is dumped and counted per destination.
type Depth int

const (
	// Quiet reads sysctls and counters only: O(1), the agent's common tick.
	// A sock_diag dump walks the whole established hash even for one
	// state, which costs a millisecond or more on a large machine.
	Quiet Depth = iota
	// Detail also dumps the CLOSE_WAIT, FIN_WAIT2 and LISTEN sockets and
	// resolves the owners of the CLOSE_WAIT and LISTEN ones.
	Detail
	// Full always dumps every state, for a complete histogram.
	Full
)

// detailStates are the sockets that analysis names owners for, and the
// FIN_WAIT2 ones: orphans in FIN_WAIT2 become timewait socks that sockstat
// counts as tw, so only a dump tells them apart from TIME_WAIT.
var detailStates = advisor.StatesOf(advisor.CloseWait, advisor.Listen, advisor.FinWait2)

// allStates is every state a socket table can hold.
var allStates = advisor.StatesOf(advisor.AllStates()...)

// Observer takes snapshots. Its zero value is not usable; use New.
type Observer struct {
	procRoot string
	sysRoot  string
	owners   *OwnerResolver
	now      func() time.Time
	ns       Namespace // nil: the calling process's namespace
}

// New returns an observer reading below procRoot (normally "/proc") and
// sysRoot (normally "/proc/sys").
func New(procRoot, sysRoot string) *Observer {
	return &Observer{
		procRoot: procRoot,
		sysRoot:  sysRoot,
		owners:   NewOwnerResolver(procRoot),
		now:      time.Now,
	}
}

// Observe takes one snapshot. The sysctls and counters are always read; the
// socket table is dumped as deep as depth and the pre-check require, and the
// owners of any CLOSE_WAIT and listening sockets dumped are resolved.
func (o *Observer) Observe(depth Depth) (advisor.Snapshot, error) {
	if o.ns != nil {
		return o.observeIn(depth)
	}
	return o.observe(depth)
}

func (o *Observer) observe(depth Depth) (advisor.Snapshot, error) {
	snap := advisor.Snapshot{Time: o.now()}
	var err error
	if snap.Sysctls, err = ReadSysctls(o.sysRoot); err != nil {
		return snap, err
	}
	if snap.Counters, err = o.readCounters(); err != nil {
		return snap, err
	}
	var states advisor.StateSet
	switch {
	case depth == Full || DumpNeeded(snap):
		states = allStates
	case depth == Detail:
		states = detailStates
	default:
		return snap, nil
	}
	if snap.Sockets, err = DumpSockets(states, DumpConfigOf(snap.Sysctls)); err != nil {
		return snap, err
	}
	if snap.Sockets.UDPPorts, err = ReadUDPPorts(o.netRoot()); err != nil {
		return snap, err
	}
	o.resolveOwners(snap.Sockets)
	return snap, nil
}

// resolveOwners finds the processes holding the CLOSE_WAIT and listening
// sockets and the sampled sockets of the busiest destinations, and the
// descriptors the CLOSE_WAIT owners hold.
func (o *Observer) resolveOwners(sum *advisor.SocketSummary) {
	keys, samples := destinationSamples(sum)
	o.owners.Resolve(sum.CloseWait, sum.Listeners, samples)
	sum.DestOwners = destinationOwners(samples, keys, sum)
	withDescriptors(o.owners.procRoot, sum.CloseWait)
}

// DumpFraction is the share of the usable range at which the pre-check asks
// for the per-socket dump: no destination can be busier than the sockets
// holding ports in all, and the default policies start to act when one
// destination uses half its ports.
const DumpFraction = 0.5

// DumpNeeded reports whether the pre-check calls for the per-socket dump:
// enough sockets hold local ports that one destination could be at
// DumpFraction of the usable range.
func DumpNeeded(s advisor.Snapshot) bool {
	return float64(s.SocketsHoldingPorts()) >= DumpFraction*float64(s.Sysctls.UsablePorts())
}

// Window takes n snapshots, interval apart, oldest first. It stops early with
// the error of the first snapshot that fails. progress, when not nil, is
// called after each snapshot with how many are taken.
func (o *Observer) Window(n int, interval time.Duration, depth Depth, progress func(done, total int)) ([]advisor.Snapshot, error) {
	var out []advisor.Snapshot
	for i := range max(n, 1) {
		if i > 0 {
			time.Sleep(interval)
		}
		s, err := o.Observe(depth)
		if progress != nil {
			progress(i+1, max(n, 1))
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
