package metrics

import (
	"cmp"
	"slices"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// sample is one series of a tick family.
type sample struct {
	fam    family
	labels []string
	value  float64
}

// tickValues are the samples one tick produced.
type tickValues struct {
	samples []sample
}

func (v *tickValues) add(f family, value float64, labels ...string) {
	v.samples = append(v.samples, sample{fam: f, labels: labels, value: value})
}

// unknownOwner labels CLOSE_WAIT sockets whose process could not be found.
const unknownOwner = "unknown"

// newTickValues turns a tick's snapshot and findings into samples.
func newTickValues(snap advisor.Snapshot, f advisor.Findings, topN int) *tickValues {
	v := &tickValues{}
	v.states(snap, f)
	v.add(famHolding, float64(f.Ports.SocketsHoldingPorts))
	v.add(famUsable, float64(f.Ports.Usable))
	if f.Window.StatesComplete && snap.Sockets != nil {
		v.destinations(snap, f, topN)
	} else {
		v.destinationBound(f)
	}
	if r := f.Connections.ActiveOpensPerSecond; r != nil {
		v.add(famNewConns, *r)
	}
	v.add(famActiveOpens, snap.Counters.ActiveOpens)
	v.add(famTWOverflow, f.TimeWait.OverflowTotal)
	if f.CloseWait.Samples > 0 {
		v.closeWait(f.CloseWait.ByOwner, topN)
	}
	if s := f.CloseWait.Stuck; s != nil {
		v.add(famStuck, float64(*s))
	} else if f.CloseWait.Samples > 0 {
		// Too few CLOSE_WAIT dumps yet to call a socket stuck: none is.
		v.add(famStuck, 0)
	}
	if f.CloseWait.Samples > 0 {
		// Detail dumps list FIN_WAIT2 with CLOSE_WAIT.
		v.add(famOrphans, float64(f.FinWait2.Orphaned))
	}
	for _, q := range f.Queues.SynQueues[:min(topN, len(f.Queues.SynQueues))] {
		v.add(famSynRecv, float64(q.SynRecv), q.Address)
		v.add(famSynBacklog, float64(q.Backlog), q.Address)
	}
	v.add(famSynOverflow, snap.Counters.ReqQFullDrop, "drop")
	v.add(famSynOverflow, snap.Counters.ReqQFullDoCookies, "cookie")
	v.sysctls(snap.Sysctls)
	return v
}

// states exports each state the tick's dump included (zero when none were
// found), TIME_WAIT always (sockstat counts it every tick), and CLOSE_WAIT
// and FIN_WAIT2 from the latest dump that listed them when this tick's did
// not: the agent dumps those every detail interval, so the figure is at
// most that old. Other states appear only at ticks whose dump had them; a
// last value from minutes ago would pass for the present.
func (v *tickValues) states(snap advisor.Snapshot, f advisor.Findings) {
	var dumped advisor.StateSet
	if snap.Sockets != nil {
		dumped = snap.Sockets.Dumped
	}
	for _, s := range advisor.AllStates() {
		name := s.String()
		switch {
		case dumped.Has(s) || s == advisor.TimeWait:
			v.add(famSockets, float64(f.States[name]), name)
		case s == advisor.CloseWait && f.CloseWait.Samples > 0:
			v.add(famSockets, float64(f.CloseWait.Count), name)
		case s == advisor.FinWait2 && f.CloseWait.Samples > 0:
			// Detail dumps list FIN_WAIT2 and CLOSE_WAIT together.
			v.add(famSockets, float64(f.FinWait2.Count), name)
		}
	}
}

// destinations exports the topN destinations of a complete dump in the
// order the findings rank them, most pressed first, and one Other series
// for the rest: the ports they hold together, and the utilization of the
// first of them. Utilization is the findings' own figure, the ports
// connect() cannot use (those held, less TIME_WAIT ones tcp_tw_reuse may
// take) over the usable ports, unrounded.
func (v *tickValues) destinations(snap advisor.Snapshot, f advisor.Findings, topN int) {
	all := advisor.RankDestinations(snap, f.Ports.Usable)
	usable := float64(f.Ports.Usable)
	util := func(d advisor.DestinationUse) float64 {
		if usable <= 0 {
			return 0
		}
		return float64(d.PortsUnavailable) / usable
	}
	listed, rest := all[:min(topN, len(all))], all[min(topN, len(all)):]
	for _, d := range listed {
		v.add(famDestInUse, float64(d.PortsInUse), d.Local, d.Remote)
		v.add(famDestUsable, usable, d.Local, d.Remote)
		v.add(famDestUtil, util(d), d.Local, d.Remote)
		v.add(famDestOrphans, float64(d.FinWait2Orphaned), d.Local, d.Remote)
	}
	inUse, orphans, restUtil := 0, 0, 0.0
	for _, d := range rest {
		inUse += d.PortsInUse
		orphans += d.FinWait2Orphaned
	}
	if len(rest) > 0 {
		restUtil = util(rest[0])
	}
	v.add(famDestInUse, float64(inUse), Other, Other)
	v.add(famDestUsable, usable, Other, Other)
	v.add(famDestUtil, restUtil, Other, Other)
	v.add(famDestOrphans, float64(orphans), Other, Other)
	v.add(famDestinations, float64(len(all)))
	worst := 0.0
	if w := f.Worst; w != nil {
		worst = util(*w)
	}
	v.add(famWorst, worst)
}

// Any labels the destination series of a tick without a whole-table dump:
// the bound the pre-check put on every destination.
const Any = "any"

// destinationBound exports, at a tick without a whole-table dump, what the
// pre-check proved of every destination: none holds more ports than the
// sockets that may hold one (sockets_holding_ports), so none is more
// utilized than that over the usable ports. One series labelled Any, and
// the worst destination's utilization as that bound, which stays below the
// half of the usable ports where the agent starts dumping.
func (v *tickValues) destinationBound(f advisor.Findings) {
	usable := float64(f.Ports.Usable)
	bound := 0.0
	if usable > 0 {
		bound = min(1, float64(f.Ports.SocketsHoldingPorts)/usable)
	}
	v.add(famDestInUse, float64(min(f.Ports.SocketsHoldingPorts, f.Ports.Usable)), Any, Any)
	v.add(famDestUsable, usable, Any, Any)
	v.add(famDestUtil, bound, Any, Any)
	v.add(famWorst, bound)
}

// closeWait exports CLOSE_WAIT sockets by (command, unit), the topN largest
// and one Other series. Owners are grouped without the PID, which changes
// at every restart and would make a new series each time.
func (v *tickValues) closeWait(owners []advisor.OwnerCount, topN int) {
	type owner struct{ command, unit string }
	counts := map[owner]int{}
	for _, o := range owners {
		k := owner{cmp.Or(o.Command, unknownOwner), cmp.Or(o.Unit, unknownOwner)}
		counts[k] += o.Count
	}
	keys := make([]owner, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b owner) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), strings.Compare(a.command, b.command), strings.Compare(a.unit, b.unit))
	})
	rest := 0
	for i, k := range keys {
		if i < topN {
			v.add(famCloseWait, float64(counts[k]), k.command, k.unit)
			continue
		}
		rest += counts[k]
	}
	v.add(famCloseWait, float64(rest), Other, Other)
}

// sysctls exports every registered sysctl read whose kind is one integer,
// and the port range's two bounds; port lists have no number to export.
// Sysctls checked the shape of every registered value.
func (v *tickValues) sysctls(sc advisor.Sysctls) {
	for _, reg := range advisor.Registry() {
		if !sc.Has(reg.Name) {
			continue
		}
		switch reg.Kind {
		case advisor.KindInt:
			v.add(famSysctl, float64(sc.Int(reg.Name)), reg.Name)
		case advisor.KindPortRange:
			r := sc.PortRange()
			v.add(famPortRange, float64(r.Low), "low")
			v.add(famPortRange, float64(r.High), "high")
		}
	}
}
