package policies

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// observation is what Evaluate reads: one snapshot and its findings.
type observation struct {
	Snapshot advisor.Snapshot `json:"snapshot"`
	Findings advisor.Findings `json:"findings"`
}

func ptr[T any](v T) *T { return &v }

// idleHost is a quiet host with the kernel's defaults: two samples ten
// seconds apart, a trickle of connections, nothing close to a limit.
func idleHost() observation {
	sc := advisor.MustSysctls(map[string]string{
		advisor.KeyPortRange:             "32768 60999",
		advisor.KeyReservedPorts:         "",
		advisor.KeyUnprivilegedPortStart: "1024",
		advisor.KeyTwReuse:               "2",
		advisor.KeyTwReuseDelay:          "1000",
		advisor.KeyFinTimeout:            "60",
		advisor.KeyMaxTwBuckets:          "262144",
		advisor.KeyMaxOrphans:            "262144",
		advisor.KeySomaxconn:             "4096",
		advisor.KeyMaxSynBacklog:         "1024",
		advisor.KeySyncookies:            "1",
		advisor.KeyTimestamps:            "1",
	})
	f := advisor.Findings{
		Window: advisor.WindowFindings{Samples: 2, Seconds: 10, StatesComplete: true, SocketsDumped: true},
		States: map[string]int{"ESTABLISHED": 12, "LISTEN": 3, "TIME_WAIT": 4},
		Ports: advisor.PortFindings{
			Low: sc.PortRange().Low, High: sc.PortRange().High, Size: 28232, Usable: 28232,
			SocketsHoldingPorts: 19, DestinationCount: 1, Sources: []advisor.SourceUse{},
		},
		Destinations: []advisor.DestinationUse{},
		Connections: advisor.ConnFindings{
			ActiveOpensPerSecond:  ptr(0.5),
			PassiveOpensPerSecond: ptr(1.0),
			TimeWaitDemandBound:   ptr(30.0),
		},
		TimeWait:  advisor.TimeWaitFindings{Count: 4, Outgoing: ptr(2), MaxBuckets: 262144},
		FinWait2:  advisor.FinWait2Findings{FinTimeout: 60},
		Orphans:   advisor.OrphanFindings{Max: 262144},
		CloseWait: advisor.CloseWaitFindings{ByOwner: []advisor.OwnerCount{}, ByRemote: []advisor.RemoteCount{}, Pattern: advisor.PatternNone, Stuck: ptr(0), StuckSockets: []advisor.SocketID{}},
		Queues:    advisor.QueueFindings{Listeners: []advisor.ListenerQueue{}},
	}
	w := advisor.DestinationUse{Local: "10.0.0.1", Remote: "10.0.0.2:5432", PortsInUse: 3, PortsUnavailable: 3, PortsUsable: 28232,
		Utilization: 0.0001, Headroom: 28229, HoldSeconds: 60, Plateau: 3, PlateauUtilization: 0.0001, GrowthPerSecond: ptr(0.0)}
	f.Destinations = []advisor.DestinationUse{w}
	f.Worst = &w
	snap := advisor.Snapshot{Sysctls: sc, Sockets: &advisor.SocketSummary{
		Listeners: []advisor.DetailedSocket{
			listener("0.0.0.0:22"), listener("0.0.0.0:80"), listener("[::]:80"),
		},
	}}
	return observation{Snapshot: snap, Findings: f}
}

func listener(addr string) advisor.DetailedSocket {
	return advisor.DetailedSocket{ID: advisor.SocketID{Local: netip.MustParseAddrPort(addr)}, State: advisor.Listen}
}

// setSysctl sets one sysctl of the snapshot.
func (o *observation) setSysctl(key, value string) {
	o.Snapshot.Sysctls = o.Snapshot.Sysctls.With(key, value)
}

// setPortRange sets the range and the port findings that follow from it.
func (o *observation) setPortRange(lo, hi int) {
	o.setSysctl(advisor.KeyPortRange, advisor.PortRange{Low: lo, High: hi}.String())
	o.Findings.Ports.Low, o.Findings.Ports.High = lo, hi
	o.Findings.Ports.Size = hi - lo + 1
	o.Findings.Ports.Usable = hi - lo + 1
}

// setWorst makes one destination have n of its usable ports unavailable,
// levelling off at plateau, growing at growth ports per second (nil:
// unknown).
func (o *observation) setWorst(n, plateau int, growth *float64) {
	usable := o.Findings.Ports.Usable
	w := advisor.DestinationUse{
		Local: "10.0.0.1", Remote: "10.0.0.2:8080", PortsInUse: n, PortsUnavailable: n, PortsUsable: usable,
		Utilization: float64(n) / float64(usable), Headroom: max(usable-n, 0), GrowthPerSecond: growth,
		HoldSeconds: 60, CloseRate: float64(plateau) / 60, Plateau: plateau, PlateauUtilization: float64(plateau) / float64(usable),
		Open: n, PlateauWithReuse: plateau,
	}
	w.Full = w.Headroom <= usable/100
	if w.Full {
		w.Plateau, w.PlateauUtilization = max(plateau, usable), max(w.PlateauUtilization, 1)
	}
	switch {
	case w.Full:
		w.SecondsToExhaustion, w.ExhaustionBasis = ptr(0.0), "no usable port left"
	case plateau >= usable && growth != nil && *growth > 0:
		w.SecondsToExhaustion, w.ExhaustionBasis = ptr(float64(w.Headroom) / *growth), "measured growth"
	}
	o.Findings.Destinations = []advisor.DestinationUse{w}
	o.Findings.Worst = &w
	o.Findings.Ports.DestinationCount = 1
}

// setWorstTimeWait makes n of the worst destination's ports TIME_WAIT.
// Where tcp_tw_reuse = 1 would work (timestamps on, reuse not on), the
// plateau it leaves holds each TIME_WAIT port 1 s.
func (o *observation) setWorstTimeWait(n int) {
	for _, w := range []*advisor.DestinationUse{o.Findings.Worst, &o.Findings.Destinations[0]} {
		w.TimeWait, w.Open = n, w.PortsInUse-n
		if o.Snapshot.Sysctls.Int(advisor.KeyTimestamps) != 0 && o.Snapshot.Sysctls.Int(advisor.KeyTwReuse) != 1 && !w.ReuseInEffect {
			w.PlateauWithReuse = w.Open + int(math.Ceil(w.CloseRate))
		} else {
			w.PlateauWithReuse = w.Plateau
		}
	}
}

// setWorstDemand gives the worst destination the connection events' figures:
// opensPerSecond connect() calls, failed ones included, each keeping a
// port its hold; a full destination's plateau is at least that demand, and
// the plateau reuse would leave at least the demand at 1 s.
func (o *observation) setWorstDemand(opensPerSecond float64) {
	for _, w := range []*advisor.DestinationUse{o.Findings.Worst, &o.Findings.Destinations[0]} {
		demand := int(math.Ceil(opensPerSecond * w.HoldSeconds))
		w.OpensPerSecond, w.Demand = ptr(opensPerSecond), &demand
		if w.Full {
			w.Plateau = max(w.Plateau, demand)
			w.PlateauUtilization = float64(w.Plateau) / float64(w.PortsUsable)
			if w.PlateauWithReuse < w.Plateau {
				w.PlateauWithReuse = max(w.PlateauWithReuse, w.Open+int(math.Ceil(opensPerSecond)))
			}
		}
	}
}

// setWorstOrphans makes n of the worst destination's ports orphaned
// FIN_WAIT2 sockets, arriving at rate per second and waiting hold seconds.
func (o *observation) setWorstOrphans(n int, rate, hold float64) {
	for _, w := range []*advisor.DestinationUse{o.Findings.Worst, &o.Findings.Destinations[0]} {
		w.FinWait2Orphaned, w.Open = n, w.PortsInUse-w.TimeWait-n
		w.OrphanCloseRate, w.OrphanHoldSeconds, w.OrphanPlateau = rate, hold, int(math.Ceil(rate*hold))
		w.CloseRate = 0
	}
}

// setActiveOpens sets the outgoing connection rate and its TIME_WAIT bound.
func (o *observation) setActiveOpens(perSecond float64) {
	o.Findings.Connections.ActiveOpensPerSecond = ptr(perSecond)
	o.Findings.Connections.TimeWaitDemandBound = ptr(perSecond * 60)
}

// exhaustedHost is the acceptance case: one destination at 90% of a
// 40000-40999 range, tcp_tw_reuse 0, a few hundred connections per second.
func exhaustedHost() observation {
	o := idleHost()
	o.setSysctl(advisor.KeyTwReuse, "0")
	o.setPortRange(40000, 40999)
	o.setWorst(900, 1200, ptr(5.0))
	o.setWorstTimeWait(880)
	o.setActiveOpens(300)
	o.Findings.TimeWait.Count = 905
	o.Findings.TimeWait.Outgoing = ptr(880)
	o.Findings.Ports.BindSource = "10.0.0.1"
	o.Findings.Ports.DistinctInUse = 900
	o.Findings.Ports.BindUtilization = 0.9
	return o
}

// loadFixture reads an observation from testdata/observations, every key
// known.
func loadFixture(t *testing.T, name string) observation {
	t.Helper()
	b, err := os.ReadFile("testdata/observations/" + name)
	if err != nil {
		t.Fatal(err)
	}
	// A key the types no longer have (a renamed figure) fails rather
	// than leaving the figure at zero.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var o observation
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return o
}

// diagString formats diagnostics as validate prints them.
func diagString(diags hcl.Diagnostics) string {
	var b strings.Builder
	FormatDiagnostics(&b, diags)
	return b.String()
}

// loadString loads one policy file from memory.
func loadString(t *testing.T, src string) (*Set, hcl.Diagnostics) {
	t.Helper()
	return load(nil, []source{{name: "test.hcl", src: []byte(src)}})
}

// mustLoad loads one policy file from memory and fails on any diagnostic.
func mustLoad(t *testing.T, src string) *Set {
	t.Helper()
	s, diags := loadString(t, src)
	if len(diags) > 0 || s == nil {
		t.Fatalf("load:\n%s", diagString(diags))
	}
	return s
}

// find returns the recommendation of a rule, or nil.
func find(recs []Recommendation, rule string) *Recommendation {
	for i := range recs {
		if recs[i].Rule == rule {
			return &recs[i]
		}
	}
	return nil
}

// finite maps NaN and infinities, which the fuzzer generates and analysis
// never yields, to 0.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
