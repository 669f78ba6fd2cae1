package advisor

import (
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func sysctls(r string) Sysctls {
	pr, _ := ParsePortRange(r)
	return Sysctls{PortRange: pr, TCPMaxTwBuckets: 131072, TCPFinTimeout: 60}
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
	w := f.Connections.Worst
	if w == nil || w.Remote != "10.0.0.2:80" || w.PortsInUse != 900 || w.Utilization != 0.9 || w.Headroom != 100 {
		t.Fatalf("worst = %+v", w)
	}
	if *w.GrowthPerSecond != 30 {
		t.Errorf("growth = %v, want 30/s", *w.GrowthPerSecond)
	}
	if *f.Connections.ActiveOpensPerSecond != 300 || *f.Connections.TimeWaitDemand != 18000 {
		t.Errorf("rate %v demand %v, want 300 and 18000", *f.Connections.ActiveOpensPerSecond, *f.Connections.TimeWaitDemand)
	}
	// 100 ports left at 30 per second.
	if got := *f.Connections.SecondsToExhaustion; got != 3.3333 || f.Connections.ExhaustionBasis != "destination growth" {
		t.Errorf("seconds to exhaustion = %v (%s)", got, f.Connections.ExhaustionBasis)
	}
	if *f.TimeWait.Outgoing != 1000 {
		t.Errorf("outgoing TIME_WAIT = %v", *f.TimeWait.Outgoing)
	}
}

func TestAnalyzeSingleSampleHasNoRates(t *testing.T) {
	f := Analyze([]Snapshot{snapAt(0, 10, map[DestKey]int{dest("10.0.0.2:80"): 5})})
	if f.Connections.ActiveOpensPerSecond != nil || f.Connections.SecondsToExhaustion != nil || f.CloseWait.Stuck != nil {
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
	if len(got.ByOwner) != 1 || got.ByOwner[0] != (OwnerCount{PID: 42, Command: "api", Unit: "api.service", Count: 3}) {
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
	if f.StatesComplete || f.States["TIME_WAIT"] != 500 || f.TimeWait.Outgoing != nil {
		t.Errorf("states %v complete=%v outgoing=%v", f.States, f.StatesComplete, f.TimeWait.Outgoing)
	}
}
