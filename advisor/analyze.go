package advisor

import (
	"cmp"
	"math"
	"slices"
)

// maxListed caps the destinations, remotes and stuck sockets listed in
// Findings; totals always count everything.
const maxListed = 20

// rateSamples is how many of the latest samples rates and growth span, so
// that they follow the present rather than a long average.
const rateSamples = 6

// Analyze derives findings from a window of snapshots, oldest first. The last
// snapshot is the present; earlier ones provide rates, growth and stuck
// sockets. Snapshots whose socket dump was partial or skipped count only
// for what they hold: per-destination figures come from complete dumps,
// CLOSE_WAIT figures from dumps that included CLOSE_WAIT. It panics on an
// empty window.
func Analyze(window []Snapshot) Findings {
	return AnalyzeWithDumps(window, withDump(window, CloseWait))
}

// AnalyzeWithDumps is Analyze with the CLOSE_WAIT history given apart: the
// agent dumps CLOSE_WAIT sockets at a slower cadence than it ticks, so
// that a socket counts as stuck only when it stays for minutes.
func AnalyzeWithDumps(window, closeWaitDumps []Snapshot) Findings {
	recent := window[max(0, len(window)-rateSamples):]
	first, last := recent[0], recent[len(recent)-1]
	f := Findings{
		Time:          last.Time,
		Samples:       len(window),
		WindowSeconds: last.Time.Sub(window[0].Time).Seconds(),
	}
	analyzeStates(&f, window)
	analyzePorts(&f, recent)
	analyzeRates(&f, first, last)
	analyzeCloseWait(&f, withDump(closeWaitDumps, CloseWait))
	analyzeQueues(&f, first, last)
	f.Degraded = degraded(window)
	return f
}

// withDump returns the snapshots whose socket dump included state s.
func withDump(window []Snapshot, s TCPState) []Snapshot {
	var out []Snapshot
	for _, snap := range window {
		if snap.Sockets != nil && snap.Sockets.Dumped.Has(s) {
			out = append(out, snap)
		}
	}
	return out
}

// complete reports whether a snapshot dumped every state, so that its
// per-destination counts are whole.
func complete(s Snapshot) bool {
	return s.Sockets != nil && s.Sockets.Dumped == StatesOf(AllStates()...)
}

func analyzeStates(f *Findings, window []Snapshot) {
	last := window[len(window)-1]
	sum := last.Sockets
	f.States = map[string]int{}
	if sum != nil {
		f.States = sum.States.Map()
	}
	f.StatesComplete = complete(last)
	// The latest dump with FIN_WAIT2 sockets, which may be older than last.
	var fw2, orphanFW2 int
	if dumps := withDump(window, FinWait2); len(dumps) > 0 {
		sum := dumps[len(dumps)-1].Sockets
		fw2, orphanFW2 = sum.States.Get(FinWait2), sum.OrphanFinWait2
	}
	if !f.StatesComplete {
		// sockstat's tw counts every timewait sock, IPv4 and IPv6: TIME_WAIT
		// and the orphans waiting in FIN_WAIT2. Without a dump in this
		// snapshot, the latest dump's orphan count is the best estimate of
		// the second, so the figure does not jump between ticks.
		if tw := last.Counters.TimeWait - orphanFW2; tw > 0 {
			f.States[TimeWait.String()] = tw
		}
	}
	f.TimeWait = TimeWaitFindings{
		Count:         f.States[TimeWait.String()],
		MaxBuckets:    last.Sysctls.TCPMaxTwBuckets,
		OverflowTotal: last.Counters.TimeWaitOverflow,
	}
	if f.StatesComplete {
		out := sum.Ephemeral.Get(TimeWait)
		f.TimeWait.Outgoing = &out
	}
	f.FinWait2 = FinWait2Findings{
		Count:      fw2,
		Orphaned:   orphanFW2,
		Orphans:    last.Counters.Orphan,
		MaxOrphans: derefInt(last.Sysctls.TCPMaxOrphans),
		FinTimeout: last.Sysctls.TCPFinTimeout,
	}
}

func analyzePorts(f *Findings, recent []Snapshot) {
	last := recent[len(recent)-1]
	sc := last.Sysctls
	usable := sc.UsablePorts()
	f.Ports = PortFindings{
		Range:               sc.PortRange,
		Size:                sc.PortRange.Size(),
		ReservedInRange:     sc.ReservedPorts.CountIn(sc.PortRange),
		Usable:              usable,
		SocketsHoldingPorts: last.Counters.SocketsHoldingPorts(),
	}
	f.Ports.ExhaustionPossible = last.ExhaustionPossible()
	f.Destinations = []DestinationUse{}
	if !complete(last) {
		return
	}
	// Growth runs from the oldest complete dump of the recent samples.
	var before map[DestKey]DestCount
	dt := 0.0
	for _, s := range recent[:len(recent)-1] {
		if complete(s) {
			before, dt = s.Sockets.PerDestination, last.Time.Sub(s.Time).Seconds()
			break
		}
	}
	if dt <= 0 {
		before = nil
	}
	all := make([]DestinationUse, 0, len(last.Sockets.PerDestination))
	for k, c := range last.Sockets.PerDestination {
		n := c.InUse
		d := DestinationUse{
			Local:       k.Local.String(),
			Remote:      k.Remote.String(),
			PortsInUse:  n,
			TimeWait:    c.TimeWait,
			PortsUsable: usable,
			Headroom:    max(usable-n, 0),
		}
		if usable > 0 {
			d.Utilization = round4(float64(n) / float64(usable))
		}
		if before != nil {
			g := round4(float64(n-before[k].InUse) / dt)
			d.GrowthPerSecond = &g
		}
		all = append(all, d)
	}
	slices.SortFunc(all, func(a, b DestinationUse) int {
		return cmp.Or(cmp.Compare(b.PortsInUse, a.PortsInUse), cmp.Compare(a.Remote, b.Remote), cmp.Compare(a.Local, b.Local))
	})
	f.Ports.DestinationCount = len(all)
	f.Ports.DistinctInUse = last.Sockets.DistinctPorts
	if usable > 0 {
		f.Ports.BindUtilization = round4(float64(last.Sockets.DistinctPorts) / float64(usable))
	}
	f.Destinations = all[:min(len(all), maxListed)]
	if len(all) > 0 {
		worst := all[0]
		f.Connections.Worst = &worst
	}
}

func analyzeRates(f *Findings, first, last Snapshot) {
	dt := last.Time.Sub(first.Time).Seconds()
	if dt <= 0 {
		return
	}
	active := round4((last.Counters.ActiveOpens - first.Counters.ActiveOpens) / dt)
	passive := round4((last.Counters.PassiveOpens - first.Counters.PassiveOpens) / dt)
	demand := round4(active * TimeWaitLen.Seconds())
	f.Connections.ActiveOpensPerSecond = &active
	f.Connections.PassiveOpensPerSecond = &passive
	f.Connections.TimeWaitDemand = &demand
	f.TimeWait.OverflowDelta = last.Counters.TimeWaitOverflow - first.Counters.TimeWaitOverflow

	w := f.Connections.Worst
	if w == nil {
		return
	}
	rate, basis := 0.0, ""
	switch {
	case w.GrowthPerSecond != nil && *w.GrowthPerSecond > 0:
		rate, basis = *w.GrowthPerSecond, "destination growth"
	case w.GrowthPerSecond == nil && active > 0:
		rate, basis = active, "all new outgoing connections"
	}
	if rate > 0 {
		secs := round4(float64(w.Headroom) / rate)
		f.Connections.SecondsToExhaustion = &secs
		f.Connections.ExhaustionBasis = basis
	}
}

// analyzeCloseWait reads the snapshots whose dump included CLOSE_WAIT.
func analyzeCloseWait(f *Findings, window []Snapshot) {
	cw := CloseWaitFindings{ByOwner: []OwnerCount{}, ByRemote: []RemoteCount{}, StuckSockets: []SocketID{}, Pattern: PatternNone}
	if len(window) == 0 {
		f.CloseWait = cw
		return
	}
	last := window[len(window)-1]
	sockets := last.Sockets.CloseWait
	cw.Count = len(sockets)
	cw.Samples = len(window)
	cw.Growth = cw.Count - len(window[0].Sockets.CloseWait)

	owners := map[Owner]int{}
	remotes := map[string]int{}
	for _, s := range sockets {
		var o Owner
		if s.Owner != nil {
			o = *s.Owner
		}
		owners[o]++
		remotes[s.ID.Remote.Addr().String()]++
	}
	for o, n := range owners {
		cw.ByOwner = append(cw.ByOwner, OwnerCount{PID: o.PID, Command: o.Command, Unit: o.Unit, Count: n, Partial: o.Partial})
	}
	slices.SortFunc(cw.ByOwner, func(a, b OwnerCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.PID, b.PID))
	})
	for r, n := range remotes {
		cw.ByRemote = append(cw.ByRemote, RemoteCount{Remote: r, Count: n})
	}
	slices.SortFunc(cw.ByRemote, func(a, b RemoteCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Remote, b.Remote))
	})
	cw.Remotes = len(cw.ByRemote)
	cw.Pattern = remotePattern(cw.Count, cw.ByRemote)
	cw.ByRemote = cw.ByRemote[:min(len(cw.ByRemote), maxListed)]

	if len(window) > 1 {
		stuck := stuckSockets(window)
		n := len(stuck)
		cw.Stuck = &n
		cw.StuckSockets = stuck[:min(n, maxListed)]
	}
	f.CloseWait = cw
}

// remotePattern classifies how sockets spread over remotes: one remote with
// half or more, many remotes with two or fewer each on average, or between.
func remotePattern(total int, byRemote []RemoteCount) RemotePattern {
	switch {
	case total == 0:
		return PatternNone
	case byRemote[0].Count*2 >= total:
		return PatternOneRemote
	case total <= 2*len(byRemote):
		return PatternManyRemotes
	default:
		return PatternSeveralRemotes
	}
}

// stuckSockets returns the CLOSE_WAIT sockets of the last snapshot that every
// earlier snapshot of the window also saw, matched by cookie and 4-tuple.
func stuckSockets(window []Snapshot) []SocketID {
	seen := map[SocketID]int{}
	for _, snap := range window {
		for _, s := range snap.Sockets.CloseWait {
			seen[s.ID]++
		}
	}
	out := []SocketID{}
	for _, s := range window[len(window)-1].Sockets.CloseWait {
		if seen[s.ID] == len(window) {
			out = append(out, s.ID)
		}
	}
	slices.SortFunc(out, func(a, b SocketID) int {
		return cmp.Or(a.Local.Compare(b.Local), a.Remote.Compare(b.Remote))
	})
	return out
}

func analyzeQueues(f *Findings, first, last Snapshot) {
	q := QueueFindings{
		Listeners:            []ListenerQueue{},
		ListenOverflowsTotal: last.Counters.ListenOverflows,
		ListenOverflowsDelta: last.Counters.ListenOverflows - first.Counters.ListenOverflows,
		ListenDropsDelta:     last.Counters.ListenDrops - first.Counters.ListenDrops,
	}
	if last.Sockets != nil {
		q.Backlog = last.Sockets.Queued
		for _, l := range last.Sockets.Listeners {
			if l.RecvQ == 0 {
				continue
			}
			q.Listeners = append(q.Listeners, ListenerQueue{
				Address: l.ID.Local.String(), Queued: l.RecvQ, Backlog: l.SendQ, Owner: l.Owner,
			})
		}
	}
	f.Queues = q
}

// round4 rounds to four decimals so JSON stays readable and stable.
func round4(v float64) float64 {
	return math.Round(v*1e4) / 1e4
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
