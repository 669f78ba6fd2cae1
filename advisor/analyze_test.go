package advisor

import (
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func sysctls(r string) Sysctls {
	return MustSysctls(map[string]string{
		KeyPortRange: r, KeyReservedPorts: "", KeyMaxTwBuckets: "131072", KeyFinTimeout: "60",
		KeyTwReuse: "0", KeyTwReuseDelay: "1000", KeyTimestamps: "1", KeyUnprivilegedPortStart: "1024",
	})
}

func dest(remote string) DestKey {
	return DestKey{Local: netip.MustParseAddr("10.0.0.1"), Remote: netip.MustParseAddrPort(remote)}
}

func cw(local, remote string, cookie uint64, owner *Owner) DetailedSocket {
	return DetailedSocket{
		ID:    SocketID{Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote), Cookie: cookie},
		State: CloseWait, Owner: owner,
	}
}

func snapAt(sec int, activeOpens float64, perDest map[DestKey]int, closeWait ...DetailedSocket) Snapshot {
	sum := &SocketSummary{Dumped: StatesOf(AllStates()...), PerDestination: map[DestKey]DestCount{}, CloseWait: closeWait}
	for k, n := range perDest {
		sum.PerDestination[k] = DestCount{InUse: n, TimeWait: n}
		sum.States[TimeWait] += n
		sum.Ephemeral[TimeWait] += n
	}
	sum.States[CloseWait] = len(closeWait)
	return Snapshot{
		Time:     t0.Add(time.Duration(sec) * time.Second),
		Sysctls:  sysctls("40000 40999"),
		Counters: Counters{ActiveOpens: activeOpens, TimeWait: sum.States[TimeWait]},
		Sockets:  sum,
	}
}

func TestAnalyzePortsAndRates(t *testing.T) {
	first := snapAt(0, 1000, map[DestKey]int{dest("10.0.0.2:80"): 600, dest("10.0.0.3:80"): 100})
	last := snapAt(10, 4000, map[DestKey]int{dest("10.0.0.2:80"): 900, dest("10.0.0.3:80"): 100})
	f := Analyze([]Snapshot{first, last})

	if f.Ports.Usable != 1000 || !f.Ports.ExhaustionPossible || f.Ports.DestinationCount != 2 {
		t.Errorf("ports = %+v", f.Ports)
	}
	w := f.Worst
	if w == nil || w.Remote != "10.0.0.2:80" || w.PortsInUse != 900 || w.PortsUnavailable != 900 || w.Utilization != 0.9 || w.Headroom != 100 {
		t.Fatalf("worst = %+v", w)
	}
	if *w.GrowthPerSecond != 30 {
		t.Errorf("growth = %v, want 30/s", *w.GrowthPerSecond)
	}
	// ActiveOpens bounds the host's TIME_WAIT; it is never a destination's demand.
	if *f.Connections.ActiveOpensPerSecond != 300 || *f.Connections.TimeWaitDemandBound != 18000 {
		t.Errorf("rate %v bound %v, want 300 and 18000", *f.Connections.ActiveOpensPerSecond, *f.Connections.TimeWaitDemandBound)
	}
	if *f.TimeWait.Outgoing != 1000 {
		t.Errorf("outgoing TIME_WAIT = %v", *f.TimeWait.Outgoing)
	}
}

// twDest is a destination whose TIME_WAIT sockets entered at rate per
// second for the last age seconds (at most 60), with open sockets not in
// TIME_WAIT, as the aggregator counts them for a reuse delay of delay.
func twDest(rate float64, age int, open int, delay time.Duration) DestCount {
	tw := int(rate * float64(min(age, 60)))
	c := DestCount{InUse: tw + open, TimeWait: tw}
	young := min(delay, time.Duration(age)*time.Second)
	c.TimeWaitYoung = int(rate * young.Seconds())
	c.TimeWaitRecent = int(rate * min(RateWindow.Seconds(), float64(age)))
	if age >= 60 {
		c.TimeWaitExpiring = int(rate * RateWindow.Seconds())
	}
	return c
}

func TestDestinationFigures(t *testing.T) {
	loop := DestKey{Local: netip.MustParseAddr("127.0.0.1"), Remote: netip.MustParseAddrPort("127.0.0.1:9000")}
	remote := dest("10.0.0.2:80")
	tests := []struct {
		name        string
		key         DestKey
		reuse, ts   string
		count       DestCount
		unavailable int
		plateau     int
		inEffect    bool
		full        bool
		runsOut     bool
	}{
		// 200/s into 1000 ports on loopback with the default reuse 2:
		// only the sockets younger than the 1 s delay block connect().
		{"loopback, reuse 2", loop, "2", "1", twDest(200, 3, 0, time.Second), 200, 200, true, false, false},
		{"loopback, reuse 2, timestamps off", loop, "2", "0", twDest(10, 60, 0, time.Second), 600, 600, false, false, false},
		// The same towards a real backend: reuse 2 is not in effect.
		{"remote, reuse 2, full", remote, "2", "1", twDest(1000.0/60, 60, 0, time.Second), 1000, 1000, false, true, true},
		{"remote, reuse 1", remote, "1", "1", twDest(100, 60, 0, time.Second), 100, 100, true, false, false},
		// 12/s levels off at 720 of 1000: however fast it climbs, it
		// never runs out.
		{"12/s climbing", remote, "0", "1", twDest(12, 20, 0, time.Second), 240, 720, false, false, false},
		{"steady 60 %", remote, "0", "1", twDest(10, 60, 0, time.Second), 600, 600, false, false, false},
		// 20/s levels off at 1200: it runs out.
		{"20/s climbing", remote, "0", "1", twDest(20, 30, 0, time.Second), 600, 1200, false, false, true},
		{"open connections", remote, "0", "1", twDest(1, 60, 500, time.Second), 560, 560, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := sysctls("40000 40999").With(KeyTwReuse, tt.reuse).With(KeyTimestamps, tt.ts)
			sum := &SocketSummary{Dumped: StatesOf(AllStates()...), PerDestination: map[DestKey]DestCount{tt.key: tt.count}}
			sum.States[TimeWait] = tt.count.TimeWait
			f := Analyze([]Snapshot{{Time: t0, Sysctls: sc, Sockets: sum}})
			w := f.Worst
			if w == nil {
				t.Fatal("no worst destination")
			}
			if w.PortsUnavailable != tt.unavailable || w.Plateau != tt.plateau || w.ReuseInEffect != tt.inEffect || w.Full != tt.full {
				t.Errorf("unavailable %d plateau %d in effect %v full %v; want %d %d %v %v (%+v)",
					w.PortsUnavailable, w.Plateau, w.ReuseInEffect, w.Full, tt.unavailable, tt.plateau, tt.inEffect, tt.full, *w)
			}
			if (w.SecondsToExhaustion != nil) != tt.runsOut {
				t.Errorf("runs out = %v (%s), want %v", w.SecondsToExhaustion != nil, w.ExhaustionBasis, tt.runsOut)
			}
		})
	}
}

func TestExhaustionFromArrivalsMinusExpiries(t *testing.T) {
	// 20/s for 30 s: 600 in TIME_WAIT, none expiring yet, so it grows at
	// 20/s and the 400 ports left last 20 s.
	sc := sysctls("40000 40999")
	k := dest("10.0.0.2:80")
	sum := &SocketSummary{Dumped: StatesOf(AllStates()...), PerDestination: map[DestKey]DestCount{k: twDest(20, 30, 0, time.Second)}}
	f := Analyze([]Snapshot{{Time: t0, Sysctls: sc, Sockets: sum}})
	w := f.Worst
	if w.SecondsToExhaustion == nil || *w.SecondsToExhaustion != 20 || w.ExhaustionBasis != "TIME_WAIT arrivals minus expiries" {
		t.Errorf("seconds %v basis %q, want 20 from arrivals minus expiries", w.SecondsToExhaustion, w.ExhaustionBasis)
	}
}

func TestListenersInRangeAndSources(t *testing.T) {
	sc := sysctls("40000 40999").With(KeyReservedPorts, "40010")
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.9")
	sum := &SocketSummary{Dumped: StatesOf(AllStates()...), PerDestination: map[DestKey]DestCount{
		{Local: a, Remote: netip.MustParseAddrPort("10.0.0.2:80")}: {InUse: 300},
		{Local: b, Remote: netip.MustParseAddrPort("10.0.0.2:80")}: {InUse: 100},
	}, BySource: map[netip.Addr]int{a: 305, b: 105}, ListenPortsInRange: 5}
	f := Analyze([]Snapshot{{Time: t0, Sysctls: sc, Sockets: sum}})
	// 1000 ports, 1 reserved, 5 held by listeners.
	if f.Ports.Usable != 994 || *f.Ports.ListenPortsInRange != 5 || f.Worst.PortsUsable != 994 {
		t.Errorf("usable %d listening %v worst usable %d", f.Ports.Usable, f.Ports.ListenPortsInRange, f.Worst.PortsUsable)
	}
	// bind() counts per source, against the range less reserved ports.
	if f.Ports.BindSource != "10.0.0.1" || f.Ports.DistinctInUse != 305 || f.Ports.BindUtilization != 0.3053 || len(f.Ports.Sources) != 2 {
		t.Errorf("bind: %+v", f.Ports)
	}
}

func TestPreCheckCountsBoundOnlySocketsInTheInitialNamespace(t *testing.T) {
	c := Counters{TCPInUse: 100, TCP6InUse: 20, TimeWait: 300, Alloc: 900}
	inner := Snapshot{Sysctls: sysctls("40000 40999"), Counters: c}
	if got := inner.SocketsHoldingPorts(); got != 420 {
		t.Errorf("inside a namespace: %d, want inuse + tw = 420 (alloc is the host's)", got)
	}
	initial := Snapshot{Sysctls: sysctls("40000 40999").With(KeyMaxOrphans, "4096"), Counters: c}
	if got := initial.SocketsHoldingPorts(); got != 1200 || !initial.ExhaustionPossible() {
		t.Errorf("initial namespace: %d, want alloc + tw = 1200", got)
	}
}

func TestCloseWaitEOF(t *testing.T) {
	a := cw("10.0.0.1:8080", "10.9.9.9:5000", 1, nil)
	a.RecvQ = 1
	b := cw("10.0.0.1:8080", "10.9.9.9:5001", 2, nil)
	f := Analyze([]Snapshot{snapAt(0, 0, nil, a, b)})
	if f.CloseWait.UnreadEOF != 1 || f.CloseWait.EOFRead != 1 {
		t.Errorf("unread %d read %d, want 1 and 1", f.CloseWait.UnreadEOF, f.CloseWait.EOFRead)
	}
}

func TestListenerFullAtBacklogPlusOne(t *testing.T) {
	for _, tt := range []struct {
		queued uint32
		full   bool
	}{{127, false}, {128, false}, {129, true}} {
		if got := (ListenerQueue{Queued: tt.queued, Backlog: 128}).Full(); got != tt.full {
			t.Errorf("queued %d of 128: full = %v", tt.queued, got)
		}
	}
}

func TestAnalyzeSingleSampleHasNoRates(t *testing.T) {
	f := Analyze([]Snapshot{snapAt(0, 10, map[DestKey]int{dest("10.0.0.2:80"): 5})})
	if f.Connections.ActiveOpensPerSecond != nil || f.Worst.GrowthPerSecond != nil || f.CloseWait.Stuck != nil {
		t.Errorf("single sample produced rates: %+v", f.Connections)
	}
	if f.Ports.ExhaustionPossible {
		t.Error("5 sockets cannot exhaust 1000 ports")
	}
}

func TestAnalyzeCloseWait(t *testing.T) {
	app := &Owner{PID: 42, Command: "api", Unit: "api.service"}
	other := &Owner{PID: 7, Command: "cron", Unit: "cron.service"}
	a := cw("10.0.0.1:8080", "10.9.9.9:5000", 1, app)
	b := cw("10.0.0.1:8080", "10.9.9.9:5001", 2, app)
	c := cw("10.0.0.1:8080", "10.9.9.8:5002", 3, other)
	d := cw("10.0.0.1:8080", "10.9.9.9:5003", 4, app)
	window := []Snapshot{
		snapAt(0, 0, nil, a, b, c),
		snapAt(5, 0, nil, a, b),
		snapAt(10, 0, nil, a, b, d),
	}
	f := Analyze(window)
	got := f.CloseWait
	if got.Count != 3 || got.Growth != 0 {
		t.Errorf("count %d growth %d", got.Count, got.Growth)
	}
	if o := got.ByOwner; len(o) != 1 || o[0].PID != 42 || o[0].Command != "api" || o[0].Unit != "api.service" || o[0].Count != 3 || o[0].LocalPort != 8080 {
		t.Errorf("by owner = %+v", got.ByOwner)
	}
	if got.Stuck == nil || *got.Stuck != 2 || len(got.StuckSockets) != 2 {
		t.Errorf("stuck = %v %v, want a and b", got.Stuck, got.StuckSockets)
	}
	if got.Pattern != PatternOneRemote || got.ByRemote[0].Remote != "10.9.9.9" {
		t.Errorf("pattern %s by remote %+v", got.Pattern, got.ByRemote)
	}
}

func TestRemotePattern(t *testing.T) {
	rc := func(counts ...int) []RemoteCount {
		out := make([]RemoteCount, len(counts))
		total := 0
		for i, n := range counts {
			out[i] = RemoteCount{Count: n}
			total += n
		}
		return out
	}
	tests := []struct {
		name  string
		total int
		by    []RemoteCount
		want  RemotePattern
	}{
		{"none", 0, nil, PatternNone},
		{"one dominates", 10, rc(6, 2, 2), PatternOneRemote},
		{"many with one each", 10, rc(1, 1, 1, 1, 1, 1, 1, 1, 1, 1), PatternManyRemotes},
		{"many with two each", 10, rc(2, 2, 2, 2, 2), PatternManyRemotes},
		{"several", 12, rc(4, 4, 4), PatternSeveralRemotes},
	}
	for _, tt := range tests {
		if got := remotePattern(tt.total, tt.by); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestAnalyzeWithoutBulkDump(t *testing.T) {
	s := snapAt(0, 0, nil)
	s.Sockets.Dumped = StatesOf(CloseWait, Listen)
	s.Counters.TimeWait = 500
	f := Analyze([]Snapshot{s})
	if f.Window.StatesComplete || f.States["TIME_WAIT"] != 500 || f.TimeWait.Outgoing != nil {
		t.Errorf("states %v complete=%v outgoing=%v", f.States, f.Window.StatesComplete, f.TimeWait.Outgoing)
	}
}

// TestCloseWaitDescriptors: the owner's descriptors grow between the first
// and last dump, and the time until its RLIMIT_NOFILE follows.
func TestCloseWaitDescriptors(t *testing.T) {
	at := func(fds int, sockets ...DetailedSocket) []DetailedSocket {
		for i := range sockets {
			sockets[i].Owner = &Owner{PID: 9, Command: "python3", Unit: "leak.service", FDs: fds, FDLimit: 1024}
		}
		return sockets
	}
	a := cw("10.0.0.1:8000", "10.9.9.9:5000", 1, nil)
	b := cw("10.0.0.1:8000", "10.9.9.9:5001", 2, nil)
	first := snapAt(0, 0, nil, at(400, a)...)
	last := snapAt(60, 0, nil, at(520, a, b)...)
	o := Analyze([]Snapshot{first, last}).CloseWait.ByOwner[0]
	// 120 more in 60 s: 2/s, and 504 left: 252 s.
	if o.FDs != 520 || o.FDLimit != 1024 || o.FDGrowthPerSecond == nil || *o.FDGrowthPerSecond != 2 || o.SecondsToFDLimit == nil || *o.SecondsToFDLimit != 252 {
		t.Errorf("owner %+v", o)
	}
}

func TestDestinationOwners(t *testing.T) {
	s := snapAt(0, 0, map[DestKey]int{dest("10.0.0.2:80"): 900})
	s.Sockets.DestOwners = map[DestKey][]Owner{dest("10.0.0.2:80"): {{PID: 7, Command: "nginx"}, {PID: 8, Command: "nginx"}, {PID: 7, Command: "nginx"}}}
	w := Analyze([]Snapshot{s}).Worst
	if len(w.Owners) != 2 || w.Owners[0].PID != 7 || w.Owners[0].Count != 2 || w.Owners[0].Command != "nginx" {
		t.Errorf("owners %+v", w.Owners)
	}
	// Full since: no connection open in the rate samples, the owners
	// come from the oldest sample of the window.
	window := []Snapshot{s}
	for i := 1; i <= rateSamples; i++ {
		window = append(window, snapAt(i, 0, map[DestKey]int{dest("10.0.0.2:80"): 1000}))
	}
	if w := Analyze(window).Worst; len(w.Owners) != 2 || w.Owners[0].Command != "nginx" {
		t.Errorf("owners once full %+v", w.Owners)
	}
}

// TestOrphanedFinWait2Destination: orphans towards a peer that never closes
// level off at their close rate × tcp_fin_timeout on their own clock: they
// are neither TIME_WAIT nor open connections, tcp_tw_reuse frees none of
// them, and at 10/s × 60 s in 1000 ports nothing runs out.
func TestOrphanedFinWait2Destination(t *testing.T) {
	k := dest("10.0.0.2:9100")
	snap := func(sec, n int) Snapshot {
		s := snapAt(sec, 0, nil)
		s.Sysctls = MustSysctls(map[string]string{
			KeyPortRange: "40000 40999", KeyReservedPorts: "", KeyMaxTwBuckets: "131072", KeyFinTimeout: "60",
			KeyTwReuse: "1", KeyTwReuseDelay: "1000", KeyTimestamps: "1", KeyUnprivilegedPortStart: "1024",
		})
		s.Sockets.PerDestination[k] = DestCount{InUse: n + 1, FinWait2Orphaned: n, FinWait2Recent: 50, FinWait2Expiring: 50}
		s.Sockets.States[FinWait2] = n
		return s
	}
	f := Analyze([]Snapshot{snap(0, 590), snap(2, 600)})
	w := f.Worst
	if w == nil || w.FinWait2Orphaned != 600 || w.Open != 1 || w.TimeWait != 0 || w.TimeWaitReusable != 0 || w.PortsUnavailable != 601 {
		t.Fatalf("worst = %+v", w)
	}
	if w.OrphanCloseRate != 10 || w.OrphanHoldSeconds != 60 || w.OrphanPlateau != 600 || w.Plateau != 601 || w.SecondsToExhaustion != nil {
		t.Errorf("orphans at %v/s × %v s: plateau %d, runs out in %v; want 10/s × 60 s, 601, never",
			w.OrphanCloseRate, w.OrphanHoldSeconds, w.Plateau, w.SecondsToExhaustion)
	}
}

func TestOrphanFinWait2Hold(t *testing.T) {
	for fin, want := range map[int]time.Duration{15: 15 * time.Second, 60: time.Minute, 70: 20 * time.Second, 120: 2 * time.Minute, 200: 280 * time.Second} {
		if got := OrphanFinWait2Hold(fin); got != want {
			t.Errorf("tcp_fin_timeout %d: %v, want %v", fin, got, want)
		}
	}
}

func TestOpenGrowthIgnoresBursts(t *testing.T) {
	tests := []struct {
		delta  int
		dt     float64
		usable int
		want   float64
	}{
		{1, 1, 300, 0},    // one connection caught in flight
		{3, 1, 1000, 0},   // under 1 % of the ports
		{20, 2, 1000, 10}, // a leak
		{-50, 1, 1000, 0},
	}
	for _, tt := range tests {
		if got := openGrowth(tt.delta, tt.dt, tt.usable); got != tt.want {
			t.Errorf("openGrowth(%d, %v, %d) = %v, want %v", tt.delta, tt.dt, tt.usable, got, tt.want)
		}
	}
}

// TestTimeWaitBoundToLo: with tcp_tw_reuse = 2, a TIME_WAIT socket bound to
// lo is reused whatever its addresses, so towards a non-loopback address
// only the young ones among them block connect().
func TestTimeWaitBoundToLo(t *testing.T) {
	sc := MustSysctls(map[string]string{
		KeyPortRange: "40000 40999", KeyReservedPorts: "", KeyFinTimeout: "60",
		KeyTwReuse: "2", KeyTwReuseDelay: "1000", KeyTimestamps: "1", KeyUnprivilegedPortStart: "1024",
	})
	r := newPortRules(sc, 1000)
	k := dest("10.0.0.2:80")
	for _, tt := range []struct {
		c    DestCount
		want int
	}{
		{DestCount{InUse: 100, TimeWait: 100, TimeWaitYoung: 10}, 100},
		{DestCount{InUse: 100, TimeWait: 100, TimeWaitYoung: 10, TimeWaitOnLo: 60, TimeWaitOnLoYoung: 6}, 46},
	} {
		if got := r.unavailable(k, tt.c); got != tt.want {
			t.Errorf("%+v: %d unavailable, want %d", tt.c, got, tt.want)
		}
	}
}

// TestBucketsInUseCoverTheDump: sockstat's tw, read before the dump, may
// lag it; the buckets in use are at least the timewait sockets the dump
// saw, TIME_WAIT and orphaned FIN_WAIT2, in the JSON as in the policies.
func TestBucketsInUseCoverTheDump(t *testing.T) {
	for _, tc := range []struct {
		name               string
		sockstat, tw, fin2 int
		want               int
	}{
		{"sockstat ahead", 900, 300, 100, 900},
		{"sockstat behind", 100, 300, 100, 400},
	} {
		s := snapAt(0, 0, map[DestKey]int{dest("10.0.0.2:80"): tc.tw})
		s.Sockets.OrphanFinWait2TW = tc.fin2
		s.Counters.TimeWait = tc.sockstat
		f := Analyze([]Snapshot{s})
		if f.TimeWait.BucketsInUse != tc.want {
			t.Errorf("%s: buckets in use %d, want %d", tc.name, f.TimeWait.BucketsInUse, tc.want)
		}
		if v := NewView(s, f); v.TimeWait.BucketsInUse != tc.want {
			t.Errorf("%s: the rule variable says %d, want %d", tc.name, v.TimeWait.BucketsInUse, tc.want)
		}
	}
}
