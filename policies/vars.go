package policies

import (
	"cmp"
	"math"
	"slices"

	"github.com/zclconf/go-cty/cty"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// unknownSeconds stands for a destination's seconds_to_exhaustion when it
// does not run out (runs_out is false). Every variable is always present
// and never null, so conditions need no null checks; a figure that may be
// unknown has a companion *_known (or, for the worst destination, known).
const unknownSeconds = -1

// variables returns the observation as the HCL variables rules read. Its
// types do not depend on the values (lists are typed even when empty), so
// variableTypes can be taken from an empty observation.
func variables(snap advisor.Snapshot, f advisor.Findings) map[string]cty.Value {
	sc := snap.Sysctls
	num := func(n int) cty.Value { return cty.NumberIntVal(int64(n)) }
	flt := func(x float64) cty.Value { return cty.NumberFloatVal(finite(x)) }
	str := cty.StringVal

	vars := map[string]cty.Value{}
	sysctls := map[string]cty.Value{}
	for _, k := range advisor.Registry() {
		switch k.Kind {
		case advisor.KindPortRange:
			sysctls[k.Short] = portRangeVal(sc.PortRange())
		case advisor.KindPortList:
			sysctls[k.Short] = str(sc.ReservedPorts().String())
		default:
			sysctls[k.Short] = num(sc.Int(k.Name))
		}
	}
	vars["sysctl"] = cty.ObjectVal(sysctls)

	p := f.Ports
	listenInRange, boundInRange := 0, 0
	if p.ListenPortsInRange != nil {
		listenInRange = *p.ListenPortsInRange
	}
	if p.BoundPortsInRange != nil {
		boundInRange = *p.BoundPortsInRange
	}
	vars["ports"] = cty.ObjectVal(map[string]cty.Value{
		"low":                   num(p.Range.Low),
		"high":                  num(p.Range.High),
		"size":                  num(p.Size),
		"usable":                num(p.Usable),
		"reserved_in_range":     num(p.ReservedInRange),
		"listen_ports_in_range": num(listenInRange),
		"bound_ports_in_range":  num(boundInRange),
		"sockets_holding_ports": num(p.SocketsHoldingPorts),
		"exhaustion_possible":   cty.BoolVal(p.ExhaustionPossible),
		"destination_count":     num(p.DestinationCount),
		"bind_source":           str(p.BindSource),
		"distinct_in_use":       num(p.DistinctInUse),
		"bind_utilization":      flt(p.BindUtilization),
	})

	dests := make([]cty.Value, 0, len(f.Destinations))
	for _, d := range f.Destinations {
		dests = append(dests, destinationVal(d))
	}
	vars["destinations"] = listOf(destinationType, dests)
	worst := destinationVal(advisor.DestinationUse{})
	if w := f.Connections.Worst; w != nil {
		worst = destinationVal(*w)
	}
	vars["worst"] = withAttr(worst, "known", cty.BoolVal(f.Connections.Worst != nil))

	ev := f.Events
	vars["events"] = cty.ObjectVal(map[string]cty.Value{
		"available":        cty.BoolVal(ev.Available),
		"unavailable":      str(ev.Unavailable),
		"seconds":          flt(ev.Seconds),
		"opens":            cty.NumberUIntVal(ev.Totals.Opens),
		"connect_failures": cty.NumberUIntVal(ev.Totals.Failures),
		"active_closes":    cty.NumberUIntVal(ev.Totals.ActiveCloses),
	})

	c := f.Connections
	vars["connections"] = cty.ObjectVal(map[string]cty.Value{
		"rates_known":              cty.BoolVal(c.ActiveOpensPerSecond != nil),
		"active_opens_per_second":  flt(deref(c.ActiveOpensPerSecond)),
		"passive_opens_per_second": flt(deref(c.PassiveOpensPerSecond)),
		"time_wait_demand_bound":   flt(deref(c.TimeWaitDemandBound)),
	})

	tw, fw := f.TimeWait, f.FinWait2
	outgoing := 0
	if tw.Outgoing != nil {
		outgoing = *tw.Outgoing
	}
	vars["time_wait"] = cty.ObjectVal(map[string]cty.Value{
		"count":          num(tw.Count),
		"buckets_in_use": num(max(tw.BucketsInUse, tw.Count+fw.OrphanedTimeWait)),
		"outgoing":       num(outgoing),
		"outgoing_known": cty.BoolVal(tw.Outgoing != nil),
		"max_buckets":    num(tw.MaxBuckets),
		"overflow_total": flt(tw.OverflowTotal),
		"overflow_delta": flt(tw.OverflowDelta),
	})

	vars["fin_wait2"] = cty.ObjectVal(map[string]cty.Value{
		"count":               num(fw.Count),
		"orphaned":            num(fw.Orphaned),
		"orphaned_timewait":   num(fw.OrphanedTimeWait),
		"fin_timeout":         num(fw.FinTimeout),
		"orphan_hold_seconds": flt(fw.OrphanHoldSeconds),
	})
	vars["orphans"] = cty.ObjectVal(map[string]cty.Value{
		"count": num(f.Orphans.Count),
		"max":   num(f.Orphans.Max),
	})

	vars["close_wait"] = closeWaitVal(f.CloseWait)
	vars["queues"] = queuesVal(f.Queues)

	states := map[string]cty.Value{}
	for _, s := range advisor.AllStates() {
		states[s.String()] = num(f.States[s.String()])
	}
	vars["states"] = cty.ObjectVal(states)

	vars["window"] = cty.ObjectVal(map[string]cty.Value{
		"samples":         num(f.Samples),
		"seconds":         flt(f.WindowSeconds),
		"states_complete": cty.BoolVal(f.StatesComplete),
		"sockets_dumped":  cty.BoolVal(snap.Sockets != nil),
	})

	var listening []int
	if snap.Sockets != nil {
		for _, l := range snap.Sockets.Listeners {
			listening = append(listening, int(l.ID.Local.Port()))
		}
	}
	slices.Sort(listening)
	listening = slices.Compact(listening)
	ports := make([]cty.Value, len(listening))
	for i, p := range listening {
		ports[i] = num(p)
	}
	vars["listening_ports"] = listOf(cty.Number, ports)
	return vars
}

// variableTypes is the schema of the observation variables, checked at load
// time against every traversal a policy makes.
var variableTypes = func() map[string]cty.Type {
	out := map[string]cty.Type{}
	for k, v := range variables(advisor.Snapshot{}, advisor.Findings{}) {
		out[k] = v.Type()
	}
	return out
}()

// unknownVariables are the variables with every value unknown: evaluating an
// expression against them checks its types without an observation.
var unknownVariables = func() map[string]cty.Value {
	out := map[string]cty.Value{}
	for k, t := range variableTypes {
		out[k] = cty.UnknownVal(t)
	}
	return out
}()

func portRangeVal(r advisor.PortRange) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"low":  cty.NumberIntVal(int64(r.Low)),
		"high": cty.NumberIntVal(int64(r.High)),
		"size": cty.NumberIntVal(int64(r.Size())),
		"text": cty.StringVal(r.String()),
	})
}

var destinationType = destinationVal(advisor.DestinationUse{}).Type()

func destinationVal(d advisor.DestinationUse) cty.Value {
	owners, top := ownersVal(d.Owners)
	openers, opener, failing := openersVal(d.Openers)
	secs := float64(unknownSeconds)
	if d.SecondsToExhaustion != nil {
		secs = *d.SecondsToExhaustion
	}
	return cty.ObjectVal(map[string]cty.Value{
		"local":                 cty.StringVal(d.Local),
		"remote":                cty.StringVal(d.Remote),
		"loopback":              cty.BoolVal(d.Loopback),
		"ports_in_use":          cty.NumberIntVal(int64(d.PortsInUse)),
		"time_wait":             cty.NumberIntVal(int64(d.TimeWait)),
		"fin_wait2_orphaned":    cty.NumberIntVal(int64(d.FinWait2Orphaned)),
		"open":                  cty.NumberIntVal(int64(d.Open)),
		"orphan_close_rate":     cty.NumberFloatVal(finite(d.OrphanCloseRate)),
		"orphan_hold_seconds":   cty.NumberFloatVal(finite(d.OrphanHoldSeconds)),
		"orphan_plateau":        cty.NumberIntVal(int64(d.OrphanPlateau)),
		"plateau_with_reuse":    cty.NumberIntVal(int64(d.PlateauWithReuse)),
		"tw_reuse_in_effect":    cty.BoolVal(d.ReuseInEffect),
		"time_wait_reusable":    cty.NumberIntVal(int64(d.TimeWaitReusable)),
		"ports_unavailable":     cty.NumberIntVal(int64(d.PortsUnavailable)),
		"ports_usable":          cty.NumberIntVal(int64(d.PortsUsable)),
		"utilization":           cty.NumberFloatVal(finite(d.Utilization)),
		"headroom":              cty.NumberIntVal(int64(d.Headroom)),
		"close_rate":            cty.NumberFloatVal(finite(d.CloseRate)),
		"hold_seconds":          cty.NumberFloatVal(finite(d.HoldSeconds)),
		"plateau":               cty.NumberIntVal(int64(d.Plateau)),
		"plateau_utilization":   cty.NumberFloatVal(finite(d.PlateauUtilization)),
		"full":                  cty.BoolVal(d.Full),
		"growth_per_second":     cty.NumberFloatVal(deref(d.GrowthPerSecond)),
		"growth_known":          cty.BoolVal(d.GrowthPerSecond != nil),
		"runs_out":              cty.BoolVal(d.SecondsToExhaustion != nil),
		"seconds_to_exhaustion": cty.NumberFloatVal(finite(secs)),
		"exhaustion_basis":      cty.StringVal(d.ExhaustionBasis),
		"owners":                owners,
		"top_owner":             top,
		"events_known":          cty.BoolVal(d.ConnectFailures != nil),
		"openers":               openers,
		"opener":                opener,
		"failing":               failing,
		"connect_failures":      cty.NumberUIntVal(valueOr0(d.ConnectFailures)),
		"opens_per_second":      cty.NumberFloatVal(deref(d.OpensPerSecond)),
		"failures_per_second":   cty.NumberFloatVal(deref(d.FailuresPerSecond)),
		"demand":                cty.NumberIntVal(int64(valueOr0(d.Demand))),
		"demand_known":          cty.BoolVal(d.Demand != nil),
	})
}

var openerType = openerVal(advisor.Opener{}).Type()

func openerVal(o advisor.Opener) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"pid":                 cty.NumberIntVal(int64(o.PID)),
		"command":             cty.StringVal(o.Command),
		"unit":                cty.StringVal(o.Unit),
		"connected":           cty.NumberUIntVal(o.Connected),
		"connect_failures":    cty.NumberUIntVal(o.Failures),
		"opens_per_second":    cty.NumberFloatVal(finite(o.OpensPerSecond)),
		"failures_per_second": cty.NumberFloatVal(finite(o.FailuresPerSecond)),
	})
}

// openersVal is the list of openers, the one that called connect() most
// and the one whose calls failed most (zero values when none).
func openersVal(openers []advisor.Opener) (list, opener, failing cty.Value) {
	vals := make([]cty.Value, len(openers))
	opener, failing = openerVal(advisor.Opener{}), openerVal(advisor.Opener{})
	var most, mostFailed advisor.Opener
	for i, o := range openers {
		vals[i] = openerVal(o)
		if o.Connected+o.Failures > most.Connected+most.Failures {
			most, opener = o, vals[i]
		}
		if o.Failures > mostFailed.Failures {
			mostFailed, failing = o, vals[i]
		}
	}
	return listOf(openerType, vals), opener, failing
}

// valueOr0 is *p, or the zero value when p is nil.
func valueOr0[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

var (
	ownerType    = ownerVal(advisor.OwnerCount{}).Type()
	remoteType   = remoteVal(advisor.RemoteCount{}).Type()
	listenerType = listenerVal(advisor.ListenerQueue{}).Type()
	synQueueType = synQueueVal(advisor.SynQueue{}).Type()
)

func ownerVal(o advisor.OwnerCount) cty.Value {
	secs := float64(unknownSeconds)
	if o.SecondsToFDLimit != nil {
		secs = *o.SecondsToFDLimit
	}
	return cty.ObjectVal(map[string]cty.Value{
		"pid":                  cty.NumberIntVal(int64(o.PID)),
		"command":              cty.StringVal(o.Command),
		"unit":                 cty.StringVal(o.Unit),
		"count":                cty.NumberIntVal(int64(o.Count)),
		"port":                 cty.NumberIntVal(int64(o.LocalPort)),
		"fds":                  cty.NumberIntVal(int64(o.FDs)),
		"fd_limit":             cty.NumberIntVal(int64(o.FDLimit)),
		"fds_known":            cty.BoolVal(o.FDs > 0),
		"fd_growth_per_second": cty.NumberFloatVal(deref(o.FDGrowthPerSecond)),
		"fd_growth_known":      cty.BoolVal(o.FDGrowthPerSecond != nil),
		"seconds_to_fd_limit":  cty.NumberFloatVal(finite(secs)),
	})
}

// ownersVal is a list of owners and the first of them (zero values when
// none).
func ownersVal(owners []advisor.OwnerCount) (list, top cty.Value) {
	vals := make([]cty.Value, len(owners))
	for i, o := range owners {
		vals[i] = ownerVal(o)
	}
	top = ownerVal(advisor.OwnerCount{})
	if len(vals) > 0 {
		top = vals[0]
	}
	return listOf(ownerType, vals), top
}

func remoteVal(r advisor.RemoteCount) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"remote": cty.StringVal(r.Remote),
		"count":  cty.NumberIntVal(int64(r.Count)),
	})
}

func closeWaitVal(cw advisor.CloseWaitFindings) cty.Value {
	owners := make([]cty.Value, len(cw.ByOwner))
	for i, o := range cw.ByOwner {
		owners[i] = ownerVal(o)
	}
	remotes := make([]cty.Value, len(cw.ByRemote))
	for i, r := range cw.ByRemote {
		remotes[i] = remoteVal(r)
	}
	stuckSockets := make([]cty.Value, len(cw.StuckSockets))
	for i, s := range cw.StuckSockets {
		stuckSockets[i] = cty.StringVal(s.Local.String() + " -> " + s.Remote.String())
	}
	top := ownerVal(advisor.OwnerCount{})
	if len(cw.ByOwner) > 0 {
		top = owners[0]
	}
	topRemote := remoteVal(advisor.RemoteCount{})
	if len(cw.ByRemote) > 0 {
		topRemote = remotes[0]
	}
	stuck := 0
	if cw.Stuck != nil {
		stuck = *cw.Stuck
	}
	pattern := string(cw.Pattern)
	if pattern == "" {
		pattern = string(advisor.PatternNone)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"count":         cty.NumberIntVal(int64(cw.Count)),
		"unread_eof":    cty.NumberIntVal(int64(cw.UnreadEOF)),
		"eof_read":      cty.NumberIntVal(int64(cw.EOFRead)),
		"growth":        cty.NumberIntVal(int64(cw.Growth)),
		"stuck":         cty.NumberIntVal(int64(stuck)),
		"stuck_known":   cty.BoolVal(cw.Stuck != nil),
		"samples":       cty.NumberIntVal(int64(cw.Samples)),
		"stuck_sockets": listOf(cty.String, stuckSockets),
		"remotes":       cty.NumberIntVal(int64(cw.Remotes)),
		"pattern":       cty.StringVal(pattern),
		"top_owner":     top,
		"top_remote":    topRemote,
		"by_owner":      listOf(ownerType, owners),
		"by_remote":     listOf(remoteType, remotes),
	})
}

func listenerVal(l advisor.ListenerQueue) cty.Value {
	return queueVal(l.Owner, map[string]cty.Value{
		"address": cty.StringVal(l.Address),
		"queued":  cty.NumberIntVal(int64(l.Queued)),
		"backlog": cty.NumberIntVal(int64(l.Backlog)),
		"full":    cty.BoolVal(l.Full()),
	})
}

func synQueueVal(q advisor.SynQueue) cty.Value {
	return queueVal(q.Owner, map[string]cty.Value{
		"address":  cty.StringVal(q.Address),
		"syn_recv": cty.NumberIntVal(int64(q.SynRecv)),
		"backlog":  cty.NumberIntVal(int64(q.Backlog)),
		"full":     cty.BoolVal(q.Full()),
	})
}

// queueVal is a listener's queue figures with the pid, command and unit of
// the process that owns it (zero values when unknown).
func queueVal(owner *advisor.Owner, attrs map[string]cty.Value) cty.Value {
	var o advisor.Owner
	if owner != nil {
		o = *owner
	}
	attrs["pid"] = cty.NumberIntVal(int64(o.PID))
	attrs["command"] = cty.StringVal(o.Command)
	attrs["unit"] = cty.StringVal(o.Unit)
	return cty.ObjectVal(attrs)
}

func queuesVal(q advisor.QueueFindings) cty.Value {
	ls := slices.Clone(q.Listeners)
	// The fullest listener first: the one a message should name.
	slices.SortStableFunc(ls, func(a, b advisor.ListenerQueue) int {
		return cmp.Or(cmp.Compare(fill(b), fill(a)), cmp.Compare(b.Queued, a.Queued))
	})
	vals := make([]cty.Value, len(ls))
	full := 0
	for i, l := range ls {
		vals[i] = listenerVal(l)
		if l.Full() {
			full++
		}
	}
	top := listenerVal(advisor.ListenerQueue{})
	if len(vals) > 0 {
		top = vals[0]
	}
	// SYN queues come fullest first from analysis.
	syn := make([]cty.Value, len(q.SynQueues))
	fullSyn := 0
	for i, s := range q.SynQueues {
		syn[i] = synQueueVal(s)
		if s.Full() {
			fullSyn++
		}
	}
	topSyn := synQueueVal(advisor.SynQueue{})
	if len(syn) > 0 {
		topSyn = syn[0]
	}
	return cty.ObjectVal(map[string]cty.Value{
		"syn_queues":                  listOf(synQueueType, syn),
		"full_syn_queues":             cty.NumberIntVal(int64(fullSyn)),
		"top_syn_queue":               topSyn,
		"req_q_full_drop_delta":       cty.NumberFloatVal(finite(q.ReqQFullDropDelta)),
		"req_q_full_do_cookies_delta": cty.NumberFloatVal(finite(q.ReqQFullDoCookiesDelta)),
		"listen_overflows_total":      cty.NumberFloatVal(finite(q.ListenOverflowsTotal)),
		"listen_overflows_delta":      cty.NumberFloatVal(finite(q.ListenOverflowsDelta)),
		"listen_drops_delta":          cty.NumberFloatVal(finite(q.ListenDropsDelta)),
		"recvq_sockets":               cty.NumberIntVal(int64(q.Backlog.RecvQSockets)),
		"recvq_bytes":                 cty.NumberUIntVal(q.Backlog.RecvQBytes),
		"sendq_sockets":               cty.NumberIntVal(int64(q.Backlog.SendQSockets)),
		"sendq_bytes":                 cty.NumberUIntVal(q.Backlog.SendQBytes),
		"queued_listeners":            cty.NumberIntVal(int64(len(ls))),
		"full_listeners":              cty.NumberIntVal(int64(full)),
		"top_listener":                top,
		"listeners":                   listOf(listenerType, vals),
	})
}

func fill(l advisor.ListenerQueue) float64 {
	if l.Backlog == 0 {
		return float64(l.Queued)
	}
	return float64(l.Queued) / float64(l.Backlog)
}

func listOf(t cty.Type, vals []cty.Value) cty.Value {
	if len(vals) == 0 {
		return cty.ListValEmpty(t)
	}
	return cty.ListVal(vals)
}

func withAttr(obj cty.Value, name string, v cty.Value) cty.Value {
	m := obj.AsValueMap()
	m[name] = v
	return cty.ObjectVal(m)
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return finite(*p)
}

// finite maps NaN and infinities, which cty numbers cannot hold, to 0.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
