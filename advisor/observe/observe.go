// Package observe reads the kernel's TCP state for tcp-advisor: sysctls
// through go-sysctl, counters from /proc/net through procfs, the socket table
// over netlink sock_diag, and socket owners from /proc/<pid>. It only reads.
//
// An Observer from New reads the calling process's network namespace; one
// from NewIn reads another namespace from inside it (see Namespace).
package observe

import (
	"fmt"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
)

// Depth says how much of the socket table an observation dumps. Whatever
// the depth, when the pre-check says a destination could run short (see
// advisor.CheckPorts), every state is dumped and counted per destination.
type Depth int

const (
	// Quiet reads sysctls and counters only: O(1), the agent's common tick.
	// A sock_diag dump walks the whole established hash even for one
	// state, which costs a millisecond or more on a large machine.
	Quiet Depth = iota
	// Detail also dumps the CLOSE_WAIT, FIN_WAIT2 and LISTEN sockets and
	// resolves the owners of the CLOSE_WAIT and LISTEN ones, unless the
	// observer's Asker says no rule needs them.
	Detail
	// Checked dumps every state when the pre-check or the Asker calls for
	// it, and nothing otherwise: a one-shot look at many namespaces.
	Checked
	// Full always dumps every state, for a complete histogram.
	Full
)

// Asker reports whether a rule needs the per-socket detail of a snapshot
// whose counters the pre-check found quiet, and names it ("" when none
// does). It sees the sysctls and counters only.
type Asker func(advisor.Snapshot) string

// detailStates are the sockets that analysis names owners for, and the
// FIN_WAIT2 ones: orphans in FIN_WAIT2 become timewait socks that sockstat
// counts as tw, so only a dump tells them apart from TIME_WAIT.
// SYN_RECV comes with them: the request sockets that fill listeners' SYN
// queues.
var detailStates = advisor.StatesOf(advisor.CloseWait, advisor.Listen, advisor.FinWait2, advisor.SynRecv)

// allStates is every state a socket table can hold.
var allStates = advisor.StatesOf(advisor.AllStates()...)

// Observer takes snapshots. Its zero value is not usable; use New.
type Observer struct {
	procRoot string
	sysRoot  string
	owners   *OwnerResolver
	now      func() time.Time
	ns       netns.Enterer // nil: the calling process's namespace
	// dump is the sock_diag dump; tests replace it to inject failures.
	dump familyDumper
	// events are the kernel's connection events, read with each
	// snapshot after eventsSince.
	events      Events
	eventsSince time.Time
	// last is the previous observation's cheap figures, for the
	// pre-check's rates; ask, when set, says whether a rule needs the
	// detail a quiet namespace's counters cannot give.
	last *advisor.CheapFigures
	ask  Asker
}

// SetAsker makes Detail and Checked observations dump only where the
// pre-check or ask calls for it. Without one, Detail always dumps its
// states and Checked dumps where the pre-check says.
func (o *Observer) SetAsker(ask Asker) { o.ask = ask }

// New returns an observer reading below procRoot (normally "/proc") and
// sysRoot (normally "/proc/sys").
func New(procRoot, sysRoot string) *Observer {
	return &Observer{
		procRoot: procRoot,
		sysRoot:  sysRoot,
		owners:   NewOwnerResolver(procRoot),
		now:      time.Now,
		dump:     dumpFamily,
	}
}

// Observe takes one snapshot. The sysctls and counters are always read; the
// socket table is dumped as deep as depth and the pre-check require, and the
// owners of any CLOSE_WAIT and listening sockets dumped are resolved.
func (o *Observer) Observe(depth Depth) (advisor.Snapshot, error) {
	read := o.read
	if o.ns != nil {
		read = o.readIn
	}
	snap, err := read(depth)
	if err == nil && snap.Sockets != nil {
		// Owners are looked up in /proc/<pid>, which no network
		// namespace changes: outside the namespace, once it is read.
		o.resolveOwners(snap.Sockets, depth)
	}
	return snap, err
}

// read reads the sysctls, the counters and the socket table of the
// namespace the calling thread is in.
func (o *Observer) read(depth Depth) (advisor.Snapshot, error) {
	snap := advisor.Snapshot{Time: o.now()}
	var err error
	if snap.Sysctls, err = ReadSysctls(o.sysRoot); err != nil {
		return snap, err
	}
	if snap.Counters, err = o.readCounters(); err != nil {
		return snap, err
	}
	o.readEvents(&snap)
	states := o.precheck(&snap, depth)
	if states == 0 {
		return snap, nil
	}
	cfg := DumpConfigOf(snap.Sysctls)
	if snap.Sockets, err = dumpSockets(o.dump, states, cfg); err != nil {
		// The fallback: the same sockets as text. Slower on a large
		// table, and without cookies; the snapshot says it is degraded.
		sum, ferr := readProcNetTCP(o.netRoot(), states, cfg)
		if ferr != nil {
			return snap, fmt.Errorf("%w; fallback: %w", err, ferr)
		}
		snap.Sockets = sum
		snap.Degraded = append(snap.Degraded, fmt.Sprintf("%v; read /proc/net/tcp{,6} instead", err))
	}
	if snap.Sockets.UDPPorts, err = ReadUDPPorts(o.netRoot()); err != nil {
		return snap, err
	}
	return snap, nil
}

// resolveOwners finds the processes holding the CLOSE_WAIT and listening
// sockets and the sampled sockets of the busiest destinations, and, when
// depth asked for the CLOSE_WAIT sockets (Detail or Full), the descriptors
// their owners hold: a Quiet tick that the pre-check made dump every state
// has them too, but CLOSE_WAIT is analysed from the detail dumps only.
func (o *Observer) resolveOwners(sum *advisor.SocketSummary, depth Depth) {
	keys, samples := destinationSamples(sum)
	o.owners.Resolve(sum.CloseWait, sum.Listeners, samples)
	sum.DestOwners = destinationOwners(samples, keys, sum)
	if depth >= Detail {
		withDescriptors(o.owners.procRoot, sum.CloseWait)
	}
}

// precheck decides what to dump of the snapshot's namespace and records
// why in snap.Precheck: every state where a destination could run short
// (advisor.CheckPorts), or where depth is Full; the detail states, or at
// Checked every state, where a rule asks; nothing otherwise.
func (o *Observer) precheck(snap *advisor.Snapshot, depth Depth) advisor.StateSet {
	cheap := advisor.CheapOf(*snap)
	pc := advisor.CheckPorts(o.last, cheap)
	// Observations closer together than RateInterval keep the older
	// figures, so that the rate runs over at least that long.
	if o.last == nil || cheap.Time.Sub(o.last.Time) >= advisor.RateInterval {
		o.last = &cheap
	}
	var states advisor.StateSet
	switch {
	case pc.Dump:
		states = allStates
	case depth == Full:
		pc.Asked = "every socket asked for"
		states = allStates
	case depth == Detail && o.ask == nil:
		pc.Asked = "the detail dump is due"
		states = detailStates
	case depth == Detail || depth == Checked:
		if o.ask == nil {
			break
		}
		if pc.Asked = o.ask(*snap); pc.Asked == "" {
			break
		}
		states = detailStates
		if depth == Checked {
			states = allStates
		}
	}
	snap.Precheck = &pc
	return states
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
