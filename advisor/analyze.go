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
		Time: last.Time,
		Window: WindowFindings{
			Samples:       len(window),
			Seconds:       last.Time.Sub(window[0].Time).Seconds(),
			SocketsDumped: last.Sockets != nil,
		},
	}
	analyzeStates(&f, window)
	analyzePorts(&f, recent, window)
	analyzeRates(&f, first, last)
	analyzeCloseWait(&f, withDump(closeWaitDumps, CloseWait))
	analyzeQueues(&f, first, last)
	analyzeEvents(&f, window)
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
	all := StatesOf(AllStates()...)
	return s.Sockets != nil && s.Sockets.Dumped&all == all
}

func analyzeStates(f *Findings, window []Snapshot) {
	last := window[len(window)-1]
	sum := last.Sockets
	f.States = map[string]int{}
	if sum != nil {
		f.States = sum.States.Map()
	}
	f.Window.StatesComplete = complete(last)
	// The latest dump with FIN_WAIT2 sockets, which may be older than last.
	var fw2, orphanFW2, orphanTW int
	if dumps := withDump(window, FinWait2); len(dumps) > 0 {
		sum := dumps[len(dumps)-1].Sockets
		fw2, orphanFW2, orphanTW = sum.States.Get(FinWait2), sum.OrphanFinWait2, sum.OrphanFinWait2TW
	}
	if !f.Window.StatesComplete {
		// sockstat's tw counts every timewait sock, IPv4 and IPv6: TIME_WAIT
		// and the orphans waiting in FIN_WAIT2. Without a dump in this
		// snapshot, the latest dump's orphan count is the best estimate of
		// the second, so the figure does not jump between ticks.
		if tw := last.Counters.TimeWait - orphanTW; tw > 0 {
			f.States[TimeWait.String()] = tw
		}
	}
	f.TimeWait = TimeWaitFindings{
		Count:         f.States[TimeWait.String()],
		BucketsInUse:  last.Counters.TimeWait,
		MaxBuckets:    last.Sysctls.Int(KeyMaxTwBuckets),
		OverflowTotal: last.Counters.TimeWaitOverflow,
	}
	if f.Window.StatesComplete {
		out := sum.Ephemeral.Get(TimeWait)
		f.TimeWait.Outgoing = &out
	}
	fin := last.Sysctls.Int(KeyFinTimeout)
	f.FinWait2 = FinWait2Findings{Count: fw2, Orphaned: orphanFW2, OrphanedTimeWait: orphanTW, FinTimeout: fin,
		OrphanHoldSeconds: OrphanFinWait2Hold(fin).Seconds()}
	// sockstat's tw and the dump are read at different moments: the
	// buckets hold at least the timewait sockets the dump saw.
	f.TimeWait.BucketsInUse = max(f.TimeWait.BucketsInUse, f.TimeWait.Count+orphanTW)
	f.Orphans = OrphanFindings{Count: last.Counters.Orphan, Max: last.Sysctls.Int(KeyMaxOrphans)}
}

// analyzePorts finds the destinations' figures in the recent samples; the
// owners of a destination's connections come from the whole window.
func analyzePorts(f *Findings, recent, window []Snapshot) {
	last := recent[len(recent)-1]
	sc := last.Sysctls
	rng, reserved := sc.PortRange(), sc.ReservedPorts()
	bindable := UsablePorts(rng, reserved)
	f.Ports = PortFindings{
		Low:                 rng.Low,
		High:                rng.High,
		Size:                rng.Size(),
		ReservedInRange:     reserved.CountIn(rng),
		Usable:              bindable,
		SocketsHoldingPorts: last.SocketsHoldingPorts(),
		Sources:             []SourceUse{},
	}
	f.Ports.ExhaustionPossible = last.ExhaustionPossible()
	f.Destinations = []DestinationUse{}
	if last.Sockets != nil && last.Sockets.Dumped.Has(Listen) {
		n := last.Sockets.ListenPortsInRange
		f.Ports.ListenPortsInRange = &n
		f.Ports.Usable = max(f.Ports.Usable-n, 0)
	}
	if last.Sockets != nil && last.Sockets.Dumped.Has(BoundInactive) {
		n, all := last.Sockets.BoundPortsInRange, last.Sockets.BoundInactive
		f.Ports.BoundPortsInRange, f.Ports.BoundInactive = &n, &all
		f.Ports.Usable = max(f.Ports.Usable-n, 0)
	}
	if !complete(last) {
		return
	}
	rules := newPortRules(sc, f.Ports.Usable)
	all := rules.rank(last.Sockets.PerDestination)
	f.Ports.DestinationCount = len(all)
	// Growth runs from the oldest complete dump of the recent samples.
	var before *Snapshot
	for i := range recent[:len(recent)-1] {
		if complete(recent[i]) && last.Time.Sub(recent[i].Time) > 0 {
			before = &recent[i]
			break
		}
	}
	var prev portRules
	var dt float64
	if before != nil {
		prev = newPortRules(before.Sysctls, f.Ports.Usable)
		dt = last.Time.Sub(before.Time).Seconds()
	}
	// Growth, time to exhaustion and owners only for the destinations
	// listed: they play no part in the order.
	f.Destinations = make([]DestinationUse, 0, min(len(all), maxListed))
	for _, r := range all[:min(len(all), maxListed)] {
		d := r.use
		d.Owners = countOwners(recentOwners(window, r.key))
		open := 0.0
		if before != nil {
			old := before.Sockets.PerDestination[r.key]
			g := round4(float64(d.PortsUnavailable-prev.unavailable(r.key, old)) / dt)
			d.GrowthPerSecond = &g
			open = openGrowth(r.count.Open()-old.Open(), dt, f.Ports.Usable)
		}
		rules.exhaustion(&d, r.count, open)
		f.Destinations = append(f.Destinations, d)
	}
	if len(f.Destinations) > 0 {
		worst := f.Destinations[0]
		f.Worst = &worst
	}
	analyzeSources(f, last, bindable)
}

// openGrowth is the growth per second of a destination's open connections
// from the change between two dumps dt seconds apart. A change of a couple
// of sockets, or under 1 % of the usable ports, is a connection caught
// between its SYN and its close, not a leak: it counts as none, so one
// dump that catches a burst does not set a time to exhaustion.
func openGrowth(delta int, dt float64, usable int) float64 {
	if delta <= max(2, usable/100) {
		return 0
	}
	return round4(float64(delta) / dt)
}

// rankedDest is one destination's key, counts and figures while
// destinations are ranked.
type rankedDest struct {
	key   DestKey
	count DestCount
	use   DestinationUse
}

// rank computes every destination's present figures and orders them most
// pressed first.
func (r portRules) rank(per map[DestKey]DestCount) []rankedDest {
	all := make([]rankedDest, 0, len(per))
	for k, c := range per {
		all = append(all, rankedDest{k, c, r.destination(k, c)})
	}
	slices.SortFunc(all, func(a, b rankedDest) int {
		return cmp.Or(cmp.Compare(b.use.Pressure(), a.use.Pressure()), cmp.Compare(b.use.PortsInUse, a.use.PortsInUse),
			cmp.Compare(a.use.Remote, b.use.Remote), cmp.Compare(a.use.Local, b.use.Local))
	})
	return all
}

// RankDestinations returns every destination of the snapshot's socket
// dump in the order of Findings.Destinations, most pressed first, with
// the same present figures: Findings lists the first of them and adds
// their growth, time to exhaustion and owners. usable is the ports one
// destination can use, PortFindings.Usable. It returns nil unless the
// dump was complete.
func RankDestinations(s Snapshot, usable int) []DestinationUse {
	if !complete(s) {
		return nil
	}
	ranked := newPortRules(s.Sysctls, usable).rank(s.Sockets.PerDestination)
	out := make([]DestinationUse, len(ranked))
	for i, r := range ranked {
		out[i] = r.use
	}
	return out
}

// analyzeSources ranks source addresses by the distinct ports bind() would
// find taken on them. bind() is checked against the range less its
// reserved ports: listeners' ports count as taken, not as missing.
func analyzeSources(f *Findings, last Snapshot, bindable int) {
	for addr, n := range last.Sockets.BySource {
		u := SourceUse{Local: addr.String(), DistinctPorts: n}
		if bindable > 0 {
			u.Utilization = round4(float64(n) / float64(bindable))
		}
		f.Ports.Sources = append(f.Ports.Sources, u)
	}
	slices.SortFunc(f.Ports.Sources, func(a, b SourceUse) int {
		return cmp.Or(cmp.Compare(b.DistinctPorts, a.DistinctPorts), cmp.Compare(a.Local, b.Local))
	})
	f.Ports.Sources = f.Ports.Sources[:min(len(f.Ports.Sources), maxListed)]
	if len(f.Ports.Sources) > 0 {
		top := f.Ports.Sources[0]
		f.Ports.BindSource, f.Ports.DistinctInUse, f.Ports.BindUtilization = top.Local, top.DistinctPorts, top.Utilization
	}
}

// portRules holds what decides a destination's figures: the usable ports
// and whether, and after how long, tcp_tw_reuse frees TIME_WAIT ports.
type portRules struct {
	usable     int
	reuse      int     // tcp_tw_reuse
	timestamps bool    // tcp_timestamps on
	delay      float64 // tcp_tw_reuse_delay in seconds
	orphanHold float64 // an orphaned FIN_WAIT2 socket's life, seconds
}

func newPortRules(sc Sysctls, usable int) portRules {
	return portRules{
		usable:     usable,
		reuse:      sc.Int(KeyTwReuse),
		timestamps: sc.Int(KeyTimestamps) != 0,
		delay:      float64(sc.Int(KeyTwReuseDelay)) / 1000,
		orphanHold: OrphanFinWait2Hold(sc.Int(KeyFinTimeout)).Seconds(),
	}
}

// reuseInEffect reports whether connect() may take the port of an older
// TIME_WAIT socket towards k: tcp_tw_reuse 1, or 2 with a loopback source
// or destination (tcp_twsk_unique), and timestamps on, since reuse needs a
// timestamp from the peer.
func (r portRules) reuseInEffect(k DestKey) bool {
	if !r.timestamps {
		return false
	}
	switch r.reuse {
	case 1:
		return true
	case 2:
		return loopback(k)
	}
	return false
}

func loopback(k DestKey) bool { return k.Local.IsLoopback() || k.Remote.Addr().IsLoopback() }

// unavailable is the ports connect() cannot use towards k: every socket
// holding one, less the TIME_WAIT sockets reuse may take.
func (r portRules) unavailable(k DestKey, c DestCount) int {
	if r.reuseInEffect(k) {
		return c.InUse - (c.TimeWait - c.TimeWaitYoung)
	}
	if r.reuse == 2 && r.timestamps {
		// Reuse 2 also takes a TIME_WAIT socket bound to lo, whatever
		// its addresses (tw_bound_dev_if == LOOPBACK_IFINDEX).
		return c.InUse - (c.TimeWaitOnLo - c.TimeWaitOnLoYoung)
	}
	return c.InUse
}

// destination computes one destination's present use and its plateau.
func (r portRules) destination(k DestKey, c DestCount) DestinationUse {
	d := DestinationUse{
		Local:             k.Local.String(),
		Remote:            k.Remote.String(),
		Loopback:          loopback(k),
		PortsInUse:        c.InUse,
		TimeWait:          c.TimeWait,
		FinWait2Orphaned:  c.FinWait2Orphaned,
		Open:              c.Open(),
		ReuseInEffect:     r.reuseInEffect(k),
		PortsUsable:       r.usable,
		HoldSeconds:       TimeWaitLen.Seconds(),
		OrphanHoldSeconds: r.orphanHold,
	}
	d.PortsUnavailable = r.unavailable(k, c)
	d.TimeWaitReusable = c.InUse - d.PortsUnavailable
	d.Headroom = max(r.usable-d.PortsUnavailable, 0)
	// The close rate from the ages: where reuse is in effect, sockets
	// older than the delay may already have been reused, so only the
	// younger ones are whole.
	window := RateWindow.Seconds()
	arrivals := c.TimeWaitRecent
	if d.ReuseInEffect {
		d.HoldSeconds, window, arrivals = r.delay, r.delay, c.TimeWaitYoung
	}
	if window > 0 {
		d.CloseRate = round4(float64(arrivals) / window)
	}
	// Orphans towards a peer that does not close level off on their own
	// clock, tcp_fin_timeout, whatever tcp_tw_reuse says.
	d.OrphanCloseRate = round4(float64(c.FinWait2Recent) / RateWindow.Seconds())
	d.OrphanPlateau = int(math.Ceil(d.OrphanCloseRate * d.OrphanHoldSeconds))
	d.Plateau = d.Open + int(math.Ceil(d.CloseRate*d.HoldSeconds)) + d.OrphanPlateau
	// The plateau tcp_tw_reuse = 1 would leave: TIME_WAIT holding each
	// port tcp_tw_reuse_delay instead of 60 s (timestamps on).
	d.PlateauWithReuse = d.Plateau
	if !d.ReuseInEffect && r.timestamps {
		d.PlateauWithReuse = d.Open + int(math.Ceil(d.CloseRate*r.delay)) + d.OrphanPlateau
	}
	if r.usable > 0 {
		d.Utilization = round4(float64(d.PortsUnavailable) / float64(r.usable))
		d.PlateauUtilization = round4(float64(d.Plateau) / float64(r.usable))
	}
	d.Full = d.Headroom <= r.usable/100
	if d.Full {
		// The measured rate is what the range lets through: the demand
		// is at least the capacity.
		d.Plateau = max(d.Plateau, r.usable)
		d.PlateauUtilization = max(d.PlateauUtilization, 1)
	}
	return d
}

// exhaustion sets the time until d runs out of ports. openGrowth is the
// growth per second of its sockets not in TIME_WAIT (0 when unmeasured).
// Closed connections level off at their plateau, so they exhaust the
// destination only when the plateau does not fit; connections that stay
// open and keep growing exhaust it whatever the plateau.
func (r portRules) exhaustion(d *DestinationUse, c DestCount, openGrowth float64) {
	set := func(secs float64, basis string) {
		secs = round4(max(secs, 0))
		d.SecondsToExhaustion, d.ExhaustionBasis = &secs, basis
	}
	// TIME_WAIT arrivals minus expiries, per second, from the ages; where
	// reuse is in effect the blocking TIME_WAIT count is steady after the
	// delay.
	net := float64(c.FinWait2Recent-c.FinWait2Expiring) / RateWindow.Seconds()
	if !d.ReuseInEffect {
		net += float64(c.TimeWaitRecent-c.TimeWaitExpiring) / RateWindow.Seconds()
	}
	measured := 0.0
	if d.GrowthPerSecond != nil {
		measured = *d.GrowthPerSecond
	}
	switch {
	case d.Full:
		set(0, "no usable port left")
	case d.Plateau >= d.PortsUsable:
		if rate := max(net+max(openGrowth, 0), measured); rate > 0 {
			basis := "TIME_WAIT arrivals minus expiries"
			if c.FinWait2Orphaned > 0 {
				basis = "TIME_WAIT and orphaned FIN_WAIT2 arrivals minus expiries"
			}
			if measured > net+max(openGrowth, 0) {
				basis = "measured growth"
			}
			set(float64(d.Headroom)/rate, basis)
		}
	case openGrowth > 0:
		set(float64(d.PortsUsable-d.Plateau)/openGrowth, "growth of open connections")
	}
}

func analyzeRates(f *Findings, first, last Snapshot) {
	dt := last.Time.Sub(first.Time).Seconds()
	if dt <= 0 {
		return
	}
	active := round4((last.Counters.ActiveOpens - first.Counters.ActiveOpens) / dt)
	passive := round4((last.Counters.PassiveOpens - first.Counters.PassiveOpens) / dt)
	bound := round4(active * TimeWaitLen.Seconds())
	f.Connections.ActiveOpensPerSecond = &active
	f.Connections.PassiveOpensPerSecond = &passive
	f.Connections.TimeWaitDemandBound = &bound
	f.TimeWait.OverflowDelta = last.Counters.TimeWaitOverflow - first.Counters.TimeWaitOverflow
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
	for _, s := range sockets {
		if s.RecvQ > 0 {
			cw.UnreadEOF++
		} else {
			cw.EOFRead++
		}
	}
	cw.Growth = cw.Count - len(window[0].Sockets.CloseWait)

	type who struct {
		pid           int
		command, unit string
	}
	owners := map[who]*OwnerCount{}
	ports := map[who]map[int]int{}
	remotes := map[string]int{}
	for _, s := range sockets {
		var o Owner
		if s.Owner != nil {
			o = *s.Owner
		}
		w := who{o.PID, o.Command, o.Unit}
		oc := owners[w]
		if oc == nil {
			oc = &OwnerCount{PID: o.PID, Command: o.Command, Unit: o.Unit, FDs: o.FDs, FDLimit: o.FDLimit, Partial: o.Partial}
			owners[w], ports[w] = oc, map[int]int{}
		}
		oc.Count++
		ports[w][int(s.ID.Local.Port())]++
		remotes[s.ID.Remote.Addr().String()]++
	}
	firstFDs, dt := firstDescriptors(window)
	for w, oc := range owners {
		for port, n := range ports[w] {
			if n > ports[w][oc.LocalPort] || (n == ports[w][oc.LocalPort] && port < oc.LocalPort) {
				oc.LocalPort = port
			}
		}
		if before, ok := firstFDs[w.pid]; ok && dt > 0 && oc.FDs > 0 {
			g := round4(float64(oc.FDs-before) / dt)
			oc.FDGrowthPerSecond = &g
			if g > 0 && oc.FDLimit > 0 {
				secs := round4(max(float64(oc.FDLimit-oc.FDs), 0) / g)
				oc.SecondsToFDLimit = &secs
			}
		}
		cw.ByOwner = append(cw.ByOwner, *oc)
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

// firstDescriptors returns the descriptors each CLOSE_WAIT owner held in the
// first of the dumps, and the seconds from that dump to the last.
func firstDescriptors(window []Snapshot) (map[int]int, float64) {
	out := map[int]int{}
	if len(window) < 2 {
		return out, 0
	}
	first, last := window[0], window[len(window)-1]
	for _, s := range first.Sockets.CloseWait {
		if s.Owner != nil && s.Owner.FDs > 0 {
			out[s.Owner.PID] = s.Owner.FDs
		}
	}
	return out, last.Time.Sub(first.Time).Seconds()
}

// recentOwners returns the owners of k's sampled sockets in the latest
// snapshot of the window that found any: a destination with no open
// connection at the last dump — a full one, whose connect() calls fail —
// keeps the owners seen while its connections were open, as long as the
// window reaches back (the agent's keeps its detail dumps for minutes).
func recentOwners(recent []Snapshot, k DestKey) []Owner {
	for i := len(recent) - 1; i >= 0; i-- {
		if s := recent[i].Sockets; s != nil {
			if o := s.DestOwners[k]; len(o) > 0 {
				return o
			}
		}
	}
	return nil
}

// countOwners counts sampled sockets by owning process, most first.
func countOwners(owners []Owner) []OwnerCount {
	out := []OwnerCount{}
	for _, o := range owners {
		i := slices.IndexFunc(out, func(c OwnerCount) bool { return c.PID == o.PID })
		if i < 0 {
			out = append(out, OwnerCount{PID: o.PID, Command: o.Command, Unit: o.Unit})
			i = len(out) - 1
		}
		out[i].Count++
	}
	slices.SortStableFunc(out, func(a, b OwnerCount) int { return cmp.Compare(b.Count, a.Count) })
	return out
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
		SynQueues:            []SynQueue{},

		ReqQFullDropDelta:      last.Counters.ReqQFullDrop - first.Counters.ReqQFullDrop,
		ReqQFullDoCookiesDelta: last.Counters.ReqQFullDoCookies - first.Counters.ReqQFullDoCookies,
	}
	if last.Sockets != nil {
		q.Backlog = last.Sockets.Queued
		for _, l := range last.Sockets.Listeners {
			if l.SynRecv > 0 {
				q.SynQueues = append(q.SynQueues, SynQueue{Address: l.ID.Local.String(), SynRecv: l.SynRecv, Backlog: l.SendQ, Owner: l.Owner})
			}
		}
		slices.SortFunc(q.SynQueues, func(a, b SynQueue) int {
			return cmp.Or(cmp.Compare(float64(b.SynRecv)/float64(max(b.Backlog, 1)), float64(a.SynRecv)/float64(max(a.Backlog, 1))), cmp.Compare(a.Address, b.Address))
		})
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
