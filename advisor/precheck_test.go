package advisor

import (
	"strings"
	"testing"
	"time"
)

func TestCheckPorts(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64, hashed, tw int, attempts float64) CheapFigures {
		return CheapFigures{Time: t0.Add(time.Duration(s * float64(time.Second))), Usable: 1000, Hashed: hashed, TimeWait: tw, Attempts: attempts}
	}
	for _, tc := range []struct {
		name      string
		prev      *CheapFigures
		cur       CheapFigures
		dump      bool
		plateau   int
		ahead     int
		wantWords string
	}{
		{name: "first tick, few sockets", cur: at(0, 12, 0, 500), plateau: 12, ahead: 12,
			wantWords: "dumped: no — 12 sockets hold ports of 1000 usable"},
		{name: "first tick, half held", cur: at(0, 10, 490, 0), dump: true, plateau: 500, ahead: 500,
			wantWords: "dumped: yes — a destination could run short: 500 sockets hold ports of 1000 usable"},
		// 16 connections/s closing at once: 160 in TIME_WAIT after 10 s,
		// towards 960 once TIME_WAIT levels off.
		{name: "climbing towards 96 %", prev: ptr(at(0, 1, 0, 100)), cur: at(10, 1, 160, 260), dump: true, plateau: 961, ahead: 961,
			wantWords: "at 16.0 connection attempts/s"},
		// 5 connections/s level off at 300 of 1000.
		{name: "steady churn that fits", prev: ptr(at(0, 1, 300, 100)), cur: at(10, 1, 300, 150), plateau: 301, ahead: 301},
		// Connections kept open, 1/s: 600 more within ten minutes.
		{name: "open sockets growing into the range", prev: ptr(at(0, 400, 0, 0)), cur: at(10, 410, 0, 10), dump: true, plateau: 470, ahead: 1070},
		{name: "open sockets falling", prev: ptr(at(0, 400, 0, 0)), cur: at(10, 300, 0, 0), plateau: 300, ahead: 300},
		{name: "counter reset reads as no attempts", prev: ptr(at(0, 1, 0, 5000)), cur: at(10, 1, 0, 10), plateau: 1, ahead: 1},
		{name: "ticks closer than a second take no rate", prev: ptr(at(0, 1, 0, 0)), cur: at(0.2, 1, 0, 100), plateau: 1, ahead: 1},
		// A full destination: no socket open, ActiveOpens still, but
		// connect() fails for lack of a port.
		{name: "connect() failing in a quiet namespace", prev: ptr(at(0, 2, 10, 100)), cur: failing(at(10, 2, 10, 100), 40), dump: true, plateau: 12, ahead: 12,
			wantWords: "dumped: yes — a destination is short: 40 connect() calls found no local port; 12 sockets hold ports of 1000 usable"},
		{name: "no failures since the last tick", prev: ptr(failing(at(0, 2, 10, 100), 40)), cur: at(10, 2, 10, 100), plateau: 12, ahead: 12,
			wantWords: "dumped: no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := CheckPorts(tc.prev, tc.cur)
			if p.Dump != tc.dump || p.Plateau != tc.plateau || p.Ahead != tc.ahead {
				t.Errorf("dump %v plateau %d ahead %d, want %v %d %d", p.Dump, p.Plateau, p.Ahead, tc.dump, tc.plateau, tc.ahead)
			}
			if !strings.Contains(p.String(), tc.wantWords) {
				t.Errorf("%q does not say %q", p, tc.wantWords)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func failing(c CheapFigures, failures uint64) CheapFigures {
	c.ConnectFailures = failures
	return c
}

// TestCheapOfEvents: the snapshot's connection events give the connect()
// failures since the previous snapshot; without events there are none.
func TestCheapOfEvents(t *testing.T) {
	snap := Snapshot{Events: &ConnEvents{Totals: ConnTotals{Opens: 50, Failures: 40}}}
	if got := CheapOf(snap).ConnectFailures; got != 40 {
		t.Errorf("with events: %d connect failures, want 40", got)
	}
	snap.Events, snap.EventsUnavailable = nil, "kernel events unavailable: x"
	if got := CheapOf(snap).ConnectFailures; got != 0 {
		t.Errorf("without events: %d connect failures, want 0", got)
	}
}

func TestPrecheckAsked(t *testing.T) {
	p := CheckPorts(nil, CheapFigures{Usable: 28232, Hashed: 150})
	p.Asked = "rule close-wait-leak asks for per-socket detail"
	if !p.Dumped() || !strings.HasPrefix(p.String(), "dumped: yes — rule close-wait-leak") {
		t.Errorf("asked: dumped %v, %q", p.Dumped(), p)
	}
}

func TestCeiling(t *testing.T) {
	c := CheapFigures{Usable: 1000, Hashed: 150, TimeWait: 20}
	f := c.Ceiling(Findings{Queues: QueueFindings{ListenOverflowsDelta: 3}})
	if f.CloseWait.Count != 150 || *f.CloseWait.Stuck != 150 || f.FinWait2.Orphaned != 20 || f.FinWait2.Count != 170 ||
		f.States["CLOSE_WAIT"] != 150 || f.States["TIME_WAIT"] != 20 || f.Ports.DistinctInUse != 170 {
		t.Errorf("ceiling %+v", f)
	}
	if f.Queues.ListenOverflowsDelta != 3 || f.Worst != nil {
		t.Errorf("ceiling changed what the counters give: %+v", f)
	}
}
