package policies

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// ruleCase is one observation and what one default rule must make of it.
type ruleCase struct {
	name     string
	mutate   func(o *observation)
	fire     bool
	severity advisor.Severity // checked when not empty
	changes  []Change         // checked when fire; nil means none
	contains []string         // substrings of the message
	lacks    []string         // substrings the message must not hold
}

func runRuleCases(t *testing.T, rule string, cases []ruleCase) {
	t.Helper()
	set := Default()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := idleHost()
			if tc.mutate != nil {
				tc.mutate(&o)
			}
			recs, diags := set.Evaluate(o.Snapshot, o.Findings)
			if diags.HasErrors() {
				t.Fatalf("evaluate:\n%s", diagString(diags))
			}
			r := find(recs, rule)
			if !tc.fire {
				if r != nil {
					t.Fatalf("%s fired: %+v", rule, *r)
				}
				return
			}
			if r == nil {
				t.Fatalf("%s did not fire; fired: %v", rule, recs)
			}
			if tc.severity != "" && r.Severity != tc.severity {
				t.Errorf("severity %q, want %q", r.Severity, tc.severity)
			}
			if !slices.Equal(r.Changes, tc.changes) && !(len(r.Changes) == 0 && len(tc.changes) == 0) {
				t.Errorf("changes %v, want %v", r.Changes, tc.changes)
			}
			for _, s := range tc.contains {
				if !strings.Contains(r.Message, s) {
					t.Errorf("message lacks %q:\n%s", s, r.Message)
				}
			}
			for _, s := range tc.lacks {
				if strings.Contains(r.Message, s) {
					t.Errorf("message holds %q:\n%s", s, r.Message)
				}
			}
		})
	}
}

// TestRuleConnectionChurn: the churn behind a destination that runs short
// is named whichever change the plan makes, tcp_tw_reuse = 1 alone
// included, with who opens the connections and whose connect() fails.
func TestRuleConnectionChurn(t *testing.T) {
	nginx := advisor.Opener{PID: 2210, Command: "nginx", Unit: "nginx.service", Connected: 2000, Failures: 7769, OpensPerSecond: 300, FailuresPerSecond: 776.9}
	runRuleCases(t, "connection-churn", []ruleCase{
		{name: "idle", fire: false},
		{
			name: "a 60% plateau: nothing runs short", fire: false,
			mutate: func(o *observation) {
				o.setPortRange(40000, 40999)
				o.setWorst(600, 600, ptr(0.0))
			},
		},
		{
			name: "reuse alone is the change: nginx and its keepalive fix from its sockets",
			mutate: func(o *observation) {
				*o = exhaustedHost()
				o.Findings.Worst.Owners = []advisor.OwnerCount{{PID: 2210, Command: "nginx", Unit: "nginx.service", Count: 4}}
			},
			fire: true, severity: advisor.SeverityCritical,
			contains: []string{"runs short of ports at the present settings", "opened by nginx (pid 2210, unit nginx.service)", "keepalive 32;", "proxy_http_version 1.1;", `proxy_set_header Connection "";`},
			lacks:    []string{"ask for", "connect() calls failed"},
		},
		{
			name: "full, from the connection events: who opens, who fails, the demand",
			mutate: func(o *observation) {
				fullWithDemand(977)(o)
				o.Findings.Worst.Openers = []advisor.Opener{nginx}
				o.Findings.Worst.ConnectFailures = ptr(uint64(7769))
			},
			fire: true, severity: advisor.SeverityCritical,
			contains: []string{"ask for 58,620", "nginx (nginx.service) opens 300/s towards 10.0.0.2:8080",
				"7,769 connect() calls failed for lack of a port in the last 0 s (nginx in nginx.service, 777 attempts/s)", "keepalive 32;"},
			lacks: []string{"immediate retries"},
		},
		{
			name: "full, a Go client's calls: the failed calls and, apart, their immediate retries",
			mutate: func(o *observation) {
				fullWithDemand(977)(o)
				o.Findings.Worst.Openers = []advisor.Opener{nginx}
				o.Findings.Worst.ConnectFailures = ptr(uint64(7769))
				o.Findings.Worst.ConnectRetries = ptr(uint64(5179))
			},
			fire: true, severity: advisor.SeverityCritical,
			contains: []string{"the connect() attempts towards it, each keeping a port 60 s, ask for 58,620",
				"7,769 connect() calls failed for lack of a port in the last 0 s (5,179 of them immediate retries) (nginx in nginx.service, 777 attempts/s)"},
		},
		{
			name: "events that saw no call: no demand of 0",
			mutate: func(o *observation) {
				*o = exhaustedHost()
				o.setWorstDemand(0)
			},
			fire: true, severity: advisor.SeverityCritical,
			lacks: []string{"ask for"},
		},
	})
}

func TestRulePortExhaustion(t *testing.T) {
	// bindHeavy spreads distinct ports over many destinations, the busiest
	// holding 1200 of the default range's 28232.
	bindHeavy := func(o *observation, distinct int, utilization float64) {
		o.setWorst(1200, 1200, ptr(0.0))
		o.Findings.Ports.DestinationCount = 40
		o.Findings.Ports.BindSource = "10.0.0.1"
		o.Findings.Ports.DistinctInUse = distinct
		o.Findings.Ports.BindUtilization = utilization
	}
	runRuleCases(t, "port-exhaustion", []ruleCase{
		{name: "idle", fire: false},
		{
			name: "90% of 40000-40999 levelling off at 120%, tcp_tw_reuse cannot work",
			mutate: func(o *observation) {
				*o = exhaustedHost()
				o.setSysctl(advisor.KeyTimestamps, "0")
				o.setWorstTimeWait(880)
			},
			fire: true, severity: advisor.SeverityCritical,
			// Twice the plateau, 2400 ports: high rises, low stays;
			// 40000 even, 42399 odd.
			changes: []Change{{advisor.KeyPortRange, "40000 42399"}},
			contains: []string{
				"connect() runs short of ports towards 10.0.0.1 -> 10.0.0.2:8080: 900 of 1000 usable ports are unavailable (90%)",
				"20 connections/s enter TIME_WAIT towards it and each keeps its port 60 s, with 20 open, so it levels off at 1200 (120%)",
				"at the rate of measured growth it runs out in 20s",
			},
			// The 900 ports bind() would find taken are the destination's own.
			lacks: []string{"bind() to port 0 runs short"},
		},
		{
			name: "tcp_tw_reuse = 1 alone suffices: no widening",
			mutate: func(o *observation) {
				*o = exhaustedHost()
				o.Findings.Ports.BindUtilization = 0.1
			},
		},
		{
			name: "orphaned FIN_WAIT2 fills it: tcp_fin_timeout at 15 s suffices, no widening",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40999)
				o.setWorst(1000, 1000, nil)
				o.setWorstOrphans(1000, 16.6, 60)
			},
		},
		{
			// Full for less than tcp_fin_timeout: no port has freed, so no
			// orphan arrived in the last 5 s; the events' 10 attempts/s,
			// all to be orphans, fit at 15 s.
			name: "orphans fill it, none arriving, 10 attempts/s measured: tcp_fin_timeout suffices, no widening",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40299)
				o.setWorst(300, 300, nil)
				o.setWorstOrphans(300, 0, 40)
				o.setWorstDemand(10)
			},
		},
		{
			// Without the events: the 300 orphans, each waiting 40 s,
			// arrived at 7.5/s at least; at 15 s that is 113 ports.
			name: "orphans fill it, none arriving, no events: sized from the orphans held, tcp_fin_timeout suffices",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40299)
				o.setWorst(300, 300, nil)
				o.setWorstOrphans(300, 0, 40)
			},
		},
		{
			name: "orphans fill it, 30 attempts/s measured: even 15 s does not fit, widened for them",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40299)
				o.setWorst(300, 300, nil)
				o.setWorstOrphans(300, 0, 40)
				o.setWorstDemand(30)
			},
			fire: true, severity: advisor.SeverityCritical,
			// 30/s x 15 s = 450 ports, twice: 900.
			changes:  []Change{{advisor.KeyPortRange, "40000 40899"}},
			contains: []string{"with net.ipv4.tcp_fin_timeout lowered it would level off at 450"},
		},
		{
			name: "orphans at 70/s: even 15 s does not fit, widened for that plateau",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40999)
				o.setWorst(900, 4200, ptr(10.0))
				o.setWorstOrphans(900, 70, 60)
			},
			fire: true, severity: advisor.SeverityCritical,
			// 70/s x 15 s = 1050 ports, twice: 2100.
			changes:  []Change{{advisor.KeyPortRange, "40000 42099"}},
			contains: []string{"with net.ipv4.tcp_fin_timeout lowered it would level off at 1050"},
		},
		{
			name: "a full destination: demand unseen, as wide as one step allows",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40999)
				o.setWorst(1000, 1000, nil)
			},
			fire: true, severity: advisor.SeverityCritical,
			// max_step 16384: 40000-57383.
			changes:  []Change{{advisor.KeyPortRange, "40000 57383"}},
			contains: []string{"none is left", "the demand is at least the capacity"},
		},
		{
			// 300/s each keeping its port 1 s with reuse: 300 + 300 open
			// fit 1000, so tcp_tw_reuse = 1 alone, though the demand at
			// 60 s (18000) does not.
			name:   "a full destination whose measured demand reuse holds: no widening",
			mutate: fullWithDemand(300),
		},
		{
			// 2000/s × 1 s + 300 open = 2300 even with reuse: twice that,
			// 4600 ports, where the measured close rate (16.7/s) would
			// have asked for no widening at all.
			name:   "a full destination whose measured demand outgrows reuse: widened for it",
			mutate: fullWithDemand(2000),
			fire:   true, severity: advisor.SeverityCritical,
			changes:  []Change{{advisor.KeyPortRange, "40000 44599"}},
			contains: []string{"ask for 120,000", "even with net.ipv4.tcp_tw_reuse = 1 it would level off at 2300"},
		},
		{
			name: "a steady destination at 60% is never widened",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40999)
				o.setWorst(600, 600, ptr(0.0))
			},
		},
		{
			name: "12/s climbing through 60%, plateau 72%: never runs out",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40999)
				o.setWorst(600, 720, ptr(12.0))
			},
		},
		{
			name: "a destination cooling down from 95% to a 50% plateau",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40999)
				o.setWorst(950, 500, ptr(-5.0))
			},
		},
		{
			name: "bind() to port 0: 85% of the ports held on one address, every destination low",
			mutate: func(o *observation) {
				bindHeavy(o, 24000, 0.85)
			},
			fire: true, severity: advisor.SeverityWarning,
			// Twice the bind() use, 48000 ports, limited by max_step to
			// 28232 + 16384 = 44616, and by 65535: high to the top, low
			// stays.
			changes: []Change{{advisor.KeyPortRange, "32768 65535"}},
			contains: []string{
				"bind() to port 0 runs short of ports: sockets on 10.0.0.1 or the wildcard hold 24000 distinct ports (85% of the range less reserved ports) in 32768 60999",
				"while the busiest destination, 10.0.0.1 -> 10.0.0.2:8080, has 1200 unavailable (4.3%)",
				"bind() to port 0 with EADDRINUSE", "IP_BIND_ADDRESS_NO_PORT",
			},
		},
		{
			name: "bind() to port 0: 90% is critical",
			mutate: func(o *observation) {
				bindHeavy(o, 25409, 0.9)
			},
			fire: true, severity: advisor.SeverityCritical, changes: []Change{{advisor.KeyPortRange, "32768 65535"}},
		},
		{
			name: "bind() to port 0: 79% does not fire",
			mutate: func(o *observation) {
				bindHeavy(o, 22300, 0.79)
			},
		},
		{
			name: "connect() case alone says nothing of bind()",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40999)
				o.setWorst(850, 950, nil)
				o.Findings.Ports.DistinctInUse = 850
				o.Findings.Ports.BindUtilization = 0.79
			},
			// Twice the 950 plateau: 1900 ports.
			fire: true, severity: advisor.SeverityWarning, changes: []Change{{advisor.KeyPortRange, "40000 41899"}},
			contains: []string{"connect() runs short of ports towards", "once the range runs out towards a destination."},
			lacks:    []string{"bind()", "IP_BIND_ADDRESS_NO_PORT"},
		},
		{
			name: "a plateau of 90% exactly is a warning",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40999)
				o.setWorst(800, 900, nil)
			},
			fire: true, severity: advisor.SeverityWarning, changes: []Change{{advisor.KeyPortRange, "40000 41799"}},
		},
		{
			name: "open connections growing into the range within 5 minutes",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40999)
				o.setWorst(600, 600, ptr(400.0/300))
				o.Findings.Worst.SecondsToExhaustion = ptr(300.0)
				o.Findings.Worst.ExhaustionBasis = "growth of open connections"
			},
			fire: true, severity: advisor.SeverityWarning, changes: []Change{{advisor.KeyPortRange, "40000 41199"}},
			contains: []string{"at the rate of growth of open connections it runs out in 5m0s"},
		},
		{
			name: "reserved ports and listeners count in the target",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40999)
				o.setSysctl(advisor.KeyReservedPorts, "40100-40199")
				o.Findings.Ports.ReservedInRange = 100
				o.Findings.Ports.ListenPortsInRange = ptr(10)
				o.Findings.Ports.Usable = 890
				o.setWorst(850, 900, nil)
			},
			// 1800 + 110 = 1910 ports: 40000-41909.
			fire: true, changes: []Change{{advisor.KeyPortRange, "40000 41909"}},
		},
		{
			name: "near 65535: high to the top, the low end stays",
			mutate: func(o *observation) {
				o.setPortRange(64000, 64999)
				o.setWorst(1000, 1000, nil)
			},
			fire: true, changes: []Change{{advisor.KeyPortRange, "64000 65535"}},
		},
		{
			name: "already at 65535: advice, no change",
			mutate: func(o *observation) {
				o.setPortRange(32768, 65535)
				o.setWorst(32768, 32768, nil)
			},
			fire: true, severity: advisor.SeverityCritical, changes: []Change{{advisor.KeyPortRange, "32768 65535"}},
			contains: []string{"more source addresses"},
		},
		{
			name: "60000 TIME_WAIT over 20 backends is not exhaustion",
			mutate: func(o *observation) {
				o.Findings.TimeWait.Count = 60000
				o.setWorst(3000, 3000, ptr(0.0))
			},
		},
		{
			name: "no destination",
			mutate: func(o *observation) {
				o.Findings.Destinations = []advisor.DestinationUse{}
				o.Findings.Worst = nil
			},
		},
	})
}

func TestRuleTimeWaitReuse(t *testing.T) {
	// activeCloser: 1000 ports, 16/s closing towards a remote backend,
	// levelling off at 96%, reuse off.
	activeCloser := func(o *observation) {
		o.setSysctl(advisor.KeyTwReuse, "0")
		o.setPortRange(40000, 40999)
		o.setWorst(700, 960, nil)
		o.setWorstTimeWait(600)
		o.setActiveOpens(300)
		o.Findings.TimeWait.Count = 700
		o.Findings.TimeWait.Outgoing = ptr(600)
	}
	runRuleCases(t, "time-wait-reuse", []ruleCase{
		{name: "idle", fire: false},
		{
			// 300 open + 300/s × 1 s: the demand the events measure,
			// not the 16.7/s a full range lets through.
			name: "full, demand measured: reuse suffices for it", mutate: fullWithDemand(300),
			fire: true, severity: advisor.SeverityCritical, changes: []Change{{advisor.KeyTwReuse, "1"}},
			contains: []string{"smallest change that suffices: the destination would level off at 600 ports (60%) at the connect() attempt rate the kernel's connection events measure, failed attempts included"},
		},
		{
			name: "active closer with reuse off", mutate: activeCloser,
			fire: true, severity: advisor.SeverityWarning, changes: []Change{{advisor.KeyTwReuse, "1"}},
			contains: []string{"600 connections from 10.0.0.1 to 10.0.0.2:8080 wait in TIME_WAIT and hold 60% of its 1000 usable ports", "levels off at 96%", "tcp_tw_reuse is 0 (off)"},
		},
		{
			name: "reuse 2 towards a remote backend: not in effect",
			mutate: func(o *observation) {
				activeCloser(o)
				o.setSysctl(advisor.KeyTwReuse, "2")
			},
			fire: true, changes: []Change{{advisor.KeyTwReuse, "1"}}, contains: []string{"loopback only, and this destination is not loopback"},
		},
		{
			name: "reuse 2 towards loopback: in effect, 1 would change nothing",
			mutate: func(o *observation) {
				activeCloser(o)
				o.setSysctl(advisor.KeyTwReuse, "2")
				o.Findings.Worst.Loopback = true
				o.Findings.Worst.ReuseInEffect = true
			},
		},
		{
			name: "a full destination is critical",
			mutate: func(o *observation) {
				activeCloser(o)
				o.setWorst(1000, 1000, nil)
				o.setWorstTimeWait(1000)
			},
			fire: true, severity: advisor.SeverityCritical, changes: []Change{{advisor.KeyTwReuse, "1"}}, contains: []string{"(none is left)"},
		},
		{
			name: "a plateau that fits: no reuse needed",
			mutate: func(o *observation) {
				activeCloser(o)
				o.setWorst(700, 720, nil)
				o.setWorstTimeWait(600)
			},
		},
		{
			name: "a full destination whose ports are mostly ESTABLISHED",
			mutate: func(o *observation) {
				activeCloser(o)
				o.setWorst(950, 950, nil)
				o.setWorstTimeWait(100)
			},
		},
		{
			name: "reuse already on",
			mutate: func(o *observation) {
				activeCloser(o)
				o.setSysctl(advisor.KeyTwReuse, "1")
			},
		},
		{
			name: "pure server: TIME_WAIT on its listening ports, no destination",
			mutate: func(o *observation) {
				o.setSysctl(advisor.KeyTwReuse, "0")
				o.setActiveOpens(0)
				o.Findings.Connections.PassiveOpensPerSecond = ptr(2000.0)
				o.Findings.TimeWait.Count = 120000
				o.Findings.TimeWait.Outgoing = ptr(0)
				o.Findings.Destinations = []advisor.DestinationUse{}
				o.Findings.Worst = nil
			},
		},
		{
			name: "timestamps off: reuse would not work",
			mutate: func(o *observation) {
				activeCloser(o)
				o.setSysctl(advisor.KeyTimestamps, "0")
			},
		},
		{
			name: "a single sample is enough: the rate comes from TIME_WAIT ages",
			mutate: func(o *observation) {
				activeCloser(o)
				o.Findings.Connections.ActiveOpensPerSecond = nil
				o.Findings.Connections.TimeWaitDemandBound = nil
			},
			fire: true, changes: []Change{{advisor.KeyTwReuse, "1"}},
		},
	})
}

func TestRuleFinWait2Orphans(t *testing.T) {
	// Orphans whose wait for the peer's FIN is harmless: 1,500 of them on
	// the default range, the destination levelling off far inside it.
	harmless := func(o *observation) {
		o.Findings.FinWait2.Count, o.Findings.FinWait2.Orphaned, o.Findings.FinWait2.OrphanedTimeWait = 1500, 1500, 1500
		o.Findings.TimeWait.BucketsInUse = 1504
		o.setWorst(1500, 1500, ptr(0.0))
		o.setWorstOrphans(1500, 25, 60)
	}
	// Towards a peer that never closes, orphans fill a 1000-port range.
	fillDestination := func(o *observation) {
		o.setPortRange(40000, 40999)
		o.setWorst(1000, 1000, nil)
		o.setWorstOrphans(1000, 16.6, 60)
		o.Findings.FinWait2.Count, o.Findings.FinWait2.Orphaned, o.Findings.FinWait2.OrphanedTimeWait = 1000, 1000, 1000
		o.Findings.CloseWait.ByOwner = []advisor.OwnerCount{{PID: 4242, Command: "leaky", Unit: "leaky.service", Count: 700}}
		o.Findings.CloseWait.Count = 700
	}
	runRuleCases(t, "fin-wait2-orphans", []ruleCase{
		{name: "idle", fire: false},
		{name: "1,500 harmless orphans on a wide range change nothing", mutate: harmless},
		{
			name: "a steady 60% plateau of orphans is left alone",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40999)
				o.setWorst(600, 600, ptr(0.0))
				o.setWorstOrphans(600, 10, 60)
			},
		},
		{
			name: "orphans fill a destination: tcp_fin_timeout lowered, the peer named", mutate: fillDestination,
			fire: true, severity: advisor.SeverityCritical,
			// Demand unseen at a full destination: at least halved.
			changes: []Change{{advisor.KeyFinTimeout, "30"}},
			contains: []string{
				"1000 connections from 10.0.0.1 to 10.0.0.2:8080 were closed here and wait in FIN_WAIT2 for a FIN the peer does not send",
				"10.0.0.2:8080 does not close its end; on this host leaky (pid 4242, unit leaky.service) holds 700 connection(s) in CLOSE_WAIT",
				"net.ipv4.tcp_tw_reuse does not help",
			},
		},
		{
			name: "orphans levelling off past a destination's ports: sized to fit",
			mutate: func(o *observation) {
				o.setPortRange(40000, 40999)
				o.setWorst(700, 1200, ptr(8.0))
				o.setWorstOrphans(700, 20, 60)
			},
			// 80% of 1000 ports at 20/s: 40 s.
			fire: true, severity: advisor.SeverityWarning, changes: []Change{{advisor.KeyFinTimeout, "40"}},
			contains: []string{"20/s join them and each waits 60 s"},
		},
		{
			name: "orphans and TIME_WAIT near tcp_max_tw_buckets",
			mutate: func(o *observation) {
				harmless(o)
				o.setSysctl(advisor.KeyMaxTwBuckets, "4096")
				o.Findings.TimeWait.MaxBuckets = 4096
				o.Findings.TimeWait.Count = 2000
				o.Findings.TimeWait.BucketsInUse = 3500
			},
			fire: true, severity: advisor.SeverityWarning, changes: []Change{{advisor.KeyFinTimeout, "30"}},
			contains: []string{"3500 timewait sockets use 85.4% of net.ipv4.tcp_max_tw_buckets (4096)"},
		},
		{
			name: "over 60 s, orphans near tcp_max_orphans: back to 60",
			mutate: func(o *observation) {
				harmless(o)
				o.setSysctl(advisor.KeyFinTimeout, "120")
				o.Findings.Orphans.Count = 1700
				o.Findings.Orphans.Max = 2048
			},
			fire: true, severity: advisor.SeverityCritical, changes: []Change{{advisor.KeyFinTimeout, "60"}},
			contains: []string{"1700 orphaned sockets host-wide of net.ipv4.tcp_max_orphans 2048"},
		},
	})
}

func TestRuleTimeWaitBucketOverflow(t *testing.T) {
	overflow := func(o *observation) {
		o.Findings.TimeWait.Count = 262144
		o.Findings.TimeWait.OverflowDelta = 50
		o.Findings.TimeWait.OverflowTotal = 1234
	}
	runRuleCases(t, "time-wait-bucket-overflow", []ruleCase{
		{name: "idle", fire: false},
		{
			name: "overflow doubles the buckets", mutate: overflow,
			fire: true, changes: []Change{{advisor.KeyMaxTwBuckets, "524288"}},
			contains: []string{"50 sockets found net.ipv4.tcp_max_tw_buckets (262144) full", "those entering TIME_WAIT skipped it, orphans entering FIN_WAIT2 were destroyed", "1234 since boot", "TIME_WAIT lasts 60 s"},
		},
		{
			name: "orphans hold most buckets: never says tcp_fin_timeout does not help",
			mutate: func(o *observation) {
				overflow(o)
				o.Findings.TimeWait.Count = 62144
				o.Findings.FinWait2.Orphaned, o.Findings.FinWait2.OrphanedTimeWait = 200000, 200000
			},
			fire: true, changes: []Change{{advisor.KeyMaxTwBuckets, "524288"}},
			contains: []string{"262144 timewait sockets are in use: 62144 in TIME_WAIT, 200000 orphaned in FIN_WAIT2", "a lower net.ipv4.tcp_fin_timeout frees them sooner"},
			lacks:    []string{"does not help", "frees only"},
		},
		{
			name: "max_step limits the rise",
			mutate: func(o *observation) {
				overflow(o)
				o.setSysctl(advisor.KeyMaxTwBuckets, "1048576")
				o.Findings.TimeWait.MaxBuckets = 1048576
				o.Findings.TimeWait.Count = 1048576
			},
			fire: true, changes: []Change{{advisor.KeyMaxTwBuckets, "1572864"}},
		},
		{
			name: "the guardrail's max holds",
			mutate: func(o *observation) {
				overflow(o)
				o.setSysctl(advisor.KeyMaxTwBuckets, "2000000")
				o.Findings.TimeWait.MaxBuckets = 2000000
			},
			fire: true, changes: []Change{{advisor.KeyMaxTwBuckets, "2097152"}},
		},
		{
			name: "at the guardrail's max: advice only",
			mutate: func(o *observation) {
				overflow(o)
				o.setSysctl(advisor.KeyMaxTwBuckets, "2097152")
				o.Findings.TimeWait.MaxBuckets = 2097152
			},
			// The proposal is the value the host has: the plan makes it
			// advice (see remediate).
			fire: true, changes: []Change{{advisor.KeyMaxTwBuckets, "2097152"}},
		},
		{
			name: "overflow long ago, none in the window",
			mutate: func(o *observation) {
				overflow(o)
				o.Findings.TimeWait.OverflowDelta = 0
			},
		},
	})
}

func TestRuleCloseWaitLeak(t *testing.T) {
	leak := func(o *observation) {
		cw := &o.Findings.CloseWait
		o.Findings.Window.Samples = 13 // snapshots: the agent ticks every 10 s...
		cw.Samples = 3                 // ...and dumps CLOSE_WAIT once a minute
		cw.Count = 412
		cw.Growth = 40
		cw.Stuck = ptr(380)
		cw.ByOwner = []advisor.OwnerCount{{PID: 1234, Command: "java", Unit: "orders.service", Count: 400}, {PID: 99, Command: "nginx", Unit: "nginx.service", Count: 12}}
		cw.ByRemote = []advisor.RemoteCount{{Remote: "10.0.3.7", Count: 300}, {Remote: "10.0.3.8", Count: 112}}
		cw.Remotes = 2
		cw.Pattern = advisor.PatternOneRemote
		cw.StuckSockets = []advisor.SocketID{
			{Local: netip.MustParseAddrPort("10.0.0.1:8080"), Remote: netip.MustParseAddrPort("10.0.3.7:51000")},
			{Local: netip.MustParseAddrPort("10.0.0.1:8080"), Remote: netip.MustParseAddrPort("10.0.3.7:51001")},
			{Local: netip.MustParseAddrPort("10.0.0.1:8080"), Remote: netip.MustParseAddrPort("10.0.3.7:51002")},
			{Local: netip.MustParseAddrPort("10.0.0.1:8080"), Remote: netip.MustParseAddrPort("10.0.3.7:51003")},
		}
	}
	runRuleCases(t, "close-wait-leak", []ruleCase{
		{name: "idle", fire: false},
		{
			name: "leak names process, unit, remote pattern and stuck sockets", mutate: leak,
			fire: true, severity: advisor.SeverityCritical, changes: nil,
			contains: []string{
				"412 sockets in CLOSE_WAIT (40 more than in the first of 3 CLOSE_WAIT dumps; 380 stuck in all 3)",
				"400 held by java (pid 1234, unit orders.service)",
				"one remote dominates: 10.0.3.7 with 300",
				"stuck: 10.0.0.1:8080 -> 10.0.3.7:51000, 10.0.0.1:8080 -> 10.0.3.7:51001, 10.0.0.1:8080 -> 10.0.3.7:51002 and 377 more",
				"No sysctl ends CLOSE_WAIT", "restarting orders.service",
			},
		},
		{
			name: "many remotes, owner unknown, one CLOSE_WAIT dump in a window of several snapshots",
			mutate: func(o *observation) {
				leak(o)
				o.Findings.CloseWait.Samples = 1
				o.Findings.CloseWait.Growth = 0
				o.Findings.CloseWait.Stuck = nil
				o.Findings.CloseWait.StuckSockets = []advisor.SocketID{}
				o.Findings.CloseWait.ByOwner = []advisor.OwnerCount{{Count: 412}}
				o.Findings.CloseWait.Pattern = advisor.PatternManyRemotes
				o.Findings.CloseWait.Remotes = 300
			},
			fire: true, severity: advisor.SeverityWarning,
			contains: []string{"412 sockets in CLOSE_WAIT;", "owner unknown", "spread over 300 remotes (many-remotes)", "restarting the owning process"},
			lacks:    []string{"stuck in all", "13"},
		},
		{
			name: "fewer than before, but stuck",
			mutate: func(o *observation) {
				leak(o)
				o.Findings.CloseWait.Growth = -5
			},
			fire: true, contains: []string{"(5 fewer than in the first of 3 CLOSE_WAIT dumps; 380 stuck in all 3)"},
		},
		{
			name: "two dumps",
			mutate: func(o *observation) {
				leak(o)
				o.Findings.CloseWait.Samples = 2
			},
			fire: true, contains: []string{"(40 more than in the first of 2 CLOSE_WAIT dumps; 380 stuck in both)"},
		},
		{
			name: "churn: sockets come and go",
			mutate: func(o *observation) {
				leak(o)
				o.Findings.CloseWait.Growth = -5
				o.Findings.CloseWait.Stuck = ptr(0)
				o.Findings.CloseWait.StuckSockets = []advisor.SocketID{}
			},
		},
		{
			name: "a few CLOSE_WAIT",
			mutate: func(o *observation) {
				leak(o)
				o.Findings.CloseWait.Count = 99
			},
		},
	})
}

func TestRuleListenQueueOverflow(t *testing.T) {
	full := []advisor.ListenerQueue{
		{Address: "0.0.0.0:443", Queued: 100, Backlog: 511},
		// Full at backlog + 1 (sk_acceptq_is_full).
		{Address: "0.0.0.0:80", Queued: 512, Backlog: 511, Owner: &advisor.Owner{PID: 77, Command: "haproxy", Unit: "haproxy.service"}},
	}
	runRuleCases(t, "listen-queue-overflow", []ruleCase{
		{name: "idle", fire: false},
		{
			name: "overflows in the window",
			mutate: func(o *observation) {
				o.Findings.Queues.ListenOverflowsDelta = 250
				o.Findings.Queues.ListenDropsDelta = 250
				o.Findings.Queues.Listeners = full
			},
			fire: true, severity: advisor.SeverityCritical, changes: nil,
			contains: []string{"250 connections overflowed", "fullest: 0.0.0.0:80 with 512 of 511 queued (haproxy, pid 77, unit haproxy.service)", "net.ipv4.tcp_max_syn_backlog bounds neither", "net.core.somaxconn (now 4096)", "listen() backlog"},
		},
		{
			name: "a full accept queue without overflow yet",
			mutate: func(o *observation) {
				o.Findings.Queues.Listeners = full
			},
			fire: true, severity: advisor.SeverityWarning, contains: []string{"1 listener(s) have a full accept queue"},
		},
		{
			name: "queued but not full",
			mutate: func(o *observation) {
				o.Findings.Queues.Listeners = full[:1]
			},
		},
		{
			name: "overflows long ago",
			mutate: func(o *observation) {
				o.Findings.Queues.ListenOverflowsTotal = 5000
			},
		},
	})
}

// TestDefaultsIdleHost: an idle host gets no recommendation at all, and a
// zero observation (nothing read) neither.
func TestDefaultsIdleHost(t *testing.T) {
	set := Default()
	for name, o := range map[string]observation{
		"idle":    idleHost(),
		"zero":    {},
		"fixture": loadFixture(t, "idle.json"),
	} {
		recs, diags := set.Evaluate(o.Snapshot, o.Findings)
		if len(diags) > 0 {
			t.Errorf("%s: %s", name, diagString(diags))
		}
		if len(recs) > 0 {
			t.Errorf("%s: recommendations on an idle host: %+v", name, recs)
		}
	}
}

// TestDefaultsNeverFinTimeoutForTimeWait: of the default rules only the
// FIN_WAIT2 one sets tcp_fin_timeout, and heavy TIME_WAIT alone never
// leads to it.
func TestDefaultsNeverFinTimeoutForTimeWait(t *testing.T) {
	set := Default()
	for _, r := range set.Rules {
		if slices.Contains(r.Keys, advisor.KeyFinTimeout) && r.Name != "fin-wait2-orphans" {
			t.Errorf("rule %s sets tcp_fin_timeout", r.Name)
		}
	}
	o := exhaustedHost()
	o.Findings.TimeWait.Count = 250000
	o.Findings.TimeWait.Outgoing = ptr(250000)
	o.Findings.TimeWait.OverflowDelta = 100
	recs, _ := set.Evaluate(o.Snapshot, o.Findings)
	for _, r := range recs {
		for _, c := range r.Changes {
			if c.Key == advisor.KeyFinTimeout {
				t.Errorf("rule %s proposes tcp_fin_timeout for TIME_WAIT", r.Rule)
			}
		}
	}
}

// TestDefaultsFixtures runs the default policies over observations stored
// as JSON, in the form `tcp-advisor diagnose --format json` reports findings.
func TestDefaultsFixtures(t *testing.T) {
	set := Default()
	tests := []struct {
		file    string
		fired   []string
		changes []Change
	}{
		{file: "idle.json"},
		{
			file:  "exhaustion.json",
			fired: []string{"connection-churn", "time-wait-reuse"},
			// The smallest change first: tcp_tw_reuse = 1 frees the
			// destination's TIME_WAIT ports (the 900 bind() would find
			// taken are its own), so the range stays.
			changes: []Change{{advisor.KeyTwReuse, "1"}},
		},
		{file: "pure-server.json"},
		{file: "close-wait-leak.json", fired: []string{"close-wait-leak"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			o := loadFixture(t, tc.file)
			recs, diags := set.Evaluate(o.Snapshot, o.Findings)
			if len(diags) > 0 {
				t.Fatal(diagString(diags))
			}
			var fired []string
			var changes []Change
			for _, r := range recs {
				fired = append(fired, r.Rule)
				changes = append(changes, r.Changes...)
			}
			if !slices.Equal(fired, tc.fired) {
				t.Errorf("fired %v, want %v", fired, tc.fired)
			}
			if !slices.Equal(changes, tc.changes) {
				t.Errorf("changes %v, want %v", changes, tc.changes)
			}
		})
	}
}

// TestAcceptancePortRange: the acceptance case's range is wider, keeps its
// low end, stays in bounds and has low and high of different parity.
func TestAcceptancePortRange(t *testing.T) {
	// Timestamps off: reuse cannot work, the range must grow.
	o := exhaustedHost()
	o.setSysctl(advisor.KeyTimestamps, "0")
	o.setWorstTimeWait(880)
	recs, diags := Default().Evaluate(o.Snapshot, o.Findings)
	if diags.HasErrors() {
		t.Fatal(diagString(diags))
	}
	r := find(recs, "port-exhaustion")
	if r == nil || len(r.Changes) != 1 || r.Changes[0].Key != advisor.KeyPortRange {
		t.Fatalf("no port range change: %+v", recs)
	}
	k, _ := advisor.LookupSysctl(advisor.KeyPortRange)
	if err := k.Check(r.Changes[0].Value); err != nil {
		t.Error(err)
	}
	pr, _ := advisor.ParsePortRange(r.Changes[0].Value)
	if pr.Low != 40000 || pr.High <= 40999 {
		t.Errorf("%v does not raise the high end of 40000-40999", pr)
	}
	if (pr.Low+pr.High)%2 == 0 {
		t.Errorf("%v: low and high of the same parity", pr)
	}
}

func TestRuleSynQueueOverflow(t *testing.T) {
	full := func(o *observation) {
		o.Findings.Queues.SynQueues = []advisor.SynQueue{{Address: "10.0.0.1:443", SynRecv: 9, Backlog: 8}}
	}
	runRuleCases(t, "syn-queue-overflow", []ruleCase{
		{name: "idle", fire: false},
		{name: "a SYN queue below its backlog", mutate: func(o *observation) {
			o.Findings.Queues.SynQueues = []advisor.SynQueue{{Address: "10.0.0.1:443", SynRecv: 8, Backlog: 8}}
		}},
		{
			name: "full, syncookies off: SYNs dropped", mutate: func(o *observation) {
				full(o)
				o.setSysctl(advisor.KeySyncookies, "0")
				o.Findings.Queues.ReqQFullDropDelta = 235
			},
			fire: true, severity: advisor.SeverityCritical,
			contains: []string{"the SYN queue of 10.0.0.1:443 holds 9 request(s) in SYN_RECV against its limit of 8", "235 SYNs found it full and were dropped (TCPReqQFullDrop)", "Turn net.ipv4.tcp_syncookies back on", "last quarter"},
		},
		{
			name: "cookies answered", mutate: func(o *observation) {
				full(o)
				o.Findings.Queues.ReqQFullDoCookiesDelta = 40
			},
			fire: true, severity: advisor.SeverityWarning,
			contains: []string{"40 SYNs found it full and were answered with a syncookie"},
			lacks:    []string{"Turn net.ipv4.tcp_syncookies back on"},
		},
	})
}

// fullWithDemand makes 40000-40999 full towards the worst destination, 700
// of its ports in TIME_WAIT and 300 open, with the connection events
// measuring opensPerSecond connect() calls towards it.
func fullWithDemand(opensPerSecond float64) func(*observation) {
	return func(o *observation) {
		o.setPortRange(40000, 40999)
		o.setWorst(1000, 1000, nil)
		o.setWorstTimeWait(700)
		o.setWorstDemand(opensPerSecond)
	}
}

// TestSmallerChangeOnlyWhereItCanBeMade: port-exhaustion leaves the
// destination to tcp_tw_reuse = 1 only where time-wait-reuse can propose
// it; disabled, or forbidden by a guardrail, the range is widened at once.
func TestSmallerChangeOnlyWhereItCanBeMade(t *testing.T) {
	o := exhaustedHost()
	o.Findings.Ports.BindUtilization = 0.1
	for name, src := range map[string]string{
		"defaults":              "",
		"reuse rule disabled":   "rule \"time-wait-reuse\" {\n  enabled = false\n}\n",
		"reuse 1 not permitted": "guardrail \"net.ipv4.tcp_tw_reuse\" {\n  allowed = [0, 2]\n}\n",
	} {
		set, diags := load(defaultSources(), []source{{name: "site.hcl", src: []byte(src)}})
		if diags.HasErrors() {
			t.Fatal(diagString(diags))
		}
		recs, diags := set.Evaluate(o.Snapshot, o.Findings)
		if diags.HasErrors() {
			t.Fatal(diagString(diags))
		}
		widened := find(recs, "port-exhaustion") != nil
		if widened != (name != "defaults") {
			t.Errorf("%s: port-exhaustion fired %v", name, widened)
		}
	}
}
