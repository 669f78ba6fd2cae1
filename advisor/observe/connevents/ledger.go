package connevents

import (
	"sync"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// Keep is how long a Ledger keeps what it drained: enough for the agent's
// window and a little more.
const Keep = 5 * time.Minute

// minPull is the least time between two drains: the observers of many
// namespaces, asking one after the other in a tick, share one drain.
const minPull = 250 * time.Millisecond

// Drainer is a Tracer, or a test's stand-in.
type Drainer interface {
	Drain() (Drained, error)
}

// Ledger keeps what a Tracer counted, drain by drain, for the last Keep,
// and answers per network namespace. One ledger serves every namespace:
// the program is global, so the cost grows with connections, not with
// namespaces. It is safe for concurrent use.
type Ledger struct {
	src Drainer
	now func() time.Time

	mu       sync.Mutex
	drains   []drain
	overflow uint64 // the tracer's counter at the last drain
}

// drain is one Drain's counts, covering (since, at].
type drain struct {
	since, at time.Time
	Drained
	overflow uint64 // events lost in this drain
}

// NewLedger returns a ledger over src, counting from now.
func NewLedger(src Drainer) *Ledger {
	l := &Ledger{src: src, now: time.Now}
	l.drains = []drain{{since: l.now(), at: l.now()}}
	return l
}

// Events drains the tracer and returns what it counted in network
// namespace netns (by cookie, netns.ThreadCookie) after since, up to now. Since before the
// ledger's oldest drain is taken from there.
func (l *Ledger) Events(netns uint64, since time.Time) (advisor.ConnEvents, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.pull(); err != nil {
		return advisor.ConnEvents{}, err
	}
	ev := advisor.ConnEvents{Since: since, Until: l.drains[len(l.drains)-1].at, Flows: []advisor.ConnFlow{}}
	first := true
	for _, d := range l.drains {
		if !d.at.After(since) {
			continue
		}
		// A drain that began before since is taken whole: Since says so.
		if first {
			ev.Since, first = d.since, false
		}
		ev.Totals.Add(d.Totals[netns])
		ev.Flows = mergeFlows(ev.Flows, d.Flows[netns])
		ev.Overflow += d.overflow
	}
	ev.OverflowTotal = l.overflow
	return ev, nil
}

// NetnsTotals drains the tracer and returns the event totals of every
// network namespace (by cookie, as advisor.Netns has it) that had events after since: a cheap
// figure of which namespaces open connections, with no socket dump.
func (l *Ledger) NetnsTotals(since time.Time) (map[uint64]advisor.ConnTotals, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.pull(); err != nil {
		return nil, err
	}
	out := map[uint64]advisor.ConnTotals{}
	for _, d := range l.drains {
		if d.at.After(since) {
			for ns, t := range d.Totals {
				sum := out[ns]
				sum.Add(t)
				out[ns] = sum
			}
		}
	}
	return out, nil
}

// pull drains the tracer into the ledger and forgets drains older than Keep.
func (l *Ledger) pull() error {
	now := l.now()
	last := l.drains[len(l.drains)-1].at
	if now.Sub(last) < minPull && len(l.drains) > 1 {
		return nil
	}
	got, err := l.src.Drain()
	if err != nil {
		return err
	}
	lost := got.Overflow - min(l.overflow, got.Overflow)
	l.overflow = got.Overflow
	l.drains = append(l.drains, drain{since: last, at: now, Drained: got, overflow: lost})
	for len(l.drains) > 1 && now.Sub(l.drains[0].at) > Keep {
		l.drains = l.drains[1:]
	}
	return nil
}

// mergeFlows adds more to flows, summing the counts of the same process
// and destination.
func mergeFlows(flows, more []advisor.ConnFlow) []advisor.ConnFlow {
	for _, f := range more {
		i := indexFlow(flows, f)
		if i < 0 {
			flows = append(flows, f)
			continue
		}
		flows[i].ConnTotals.Add(f.ConnTotals)
	}
	return flows
}

func indexFlow(flows []advisor.ConnFlow, f advisor.ConnFlow) int {
	for i, g := range flows {
		if g.PID == f.PID && g.Command == f.Command && g.CgroupID == f.CgroupID &&
			g.Local == f.Local && g.Remote == f.Remote && g.LocalPort == f.LocalPort {
			return i
		}
	}
	return -1
}
