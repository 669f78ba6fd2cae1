package advisor

import (
	"net/netip"
	"testing"
	"time"
)

// eventsFor gives a snapshot the events of (since, until] towards the
// full destination 10.0.0.2:80: nginx connects, curl's calls fail,
// curlRetries of them immediate retries.
func eventsFor(s Snapshot, since time.Time, nginxOpens, curlFails, curlRetries uint64) Snapshot {
	remote := netip.MustParseAddrPort("10.0.0.2:80")
	local := netip.MustParseAddr("10.0.0.1")
	s.Events = &ConnEvents{Since: since, Until: s.Time,
		Totals: ConnTotals{Opens: nginxOpens + curlFails, Failures: curlFails, Retries: curlRetries},
		Flows: []ConnFlow{
			{PID: 10, Command: "nginx", Unit: "nginx.service", Local: local, Remote: remote, ConnTotals: ConnTotals{Opens: nginxOpens}},
			{PID: 20, Command: "curl", Local: local, Remote: remote, ConnTotals: ConnTotals{Opens: curlFails, Failures: curlFails, Retries: curlRetries}},
			// Another destination and an inbound flow count elsewhere.
			{PID: 10, Command: "nginx", Local: local, Remote: netip.MustParseAddrPort("10.0.0.3:80"), ConnTotals: ConnTotals{Opens: 1000}},
			{PID: 10, Command: "nginx", Local: local, LocalPort: 80, ConnTotals: ConnTotals{ActiveCloses: 500}},
		}}
	return s
}

func TestAnalyzeEvents(t *testing.T) {
	full := map[DestKey]int{dest("10.0.0.2:80"): 1000}
	tests := []struct {
		name           string
		window         []Snapshot
		available      bool
		unavailable    string
		openers        []Opener
		failures       uint64
		opensPerSec    float64
		demand         int
		plateauAtLeast int
		// What tcp_tw_reuse = 1 would leave: the same attempts, each
		// keeping its port tcp_tw_reuse_delay (1 s), not the rate the
		// full range let through.
		plateauWithReuse int
	}{
		{
			name: "full destination, demand measured over 10 s",
			window: []Snapshot{
				eventsFor(snapAt(5, 0, full), t0, 1000, 3000, 0),
				eventsFor(snapAt(10, 0, full), t0.Add(5*time.Second), 1000, 3000, 0),
			},
			available: true,
			openers: []Opener{
				{PID: 20, Command: "curl", Failures: 6000, OpensPerSecond: 600, FailuresPerSecond: 600},
				{PID: 10, Command: "nginx", Unit: "nginx.service", Connected: 2000, OpensPerSecond: 200},
			},
			failures:    6000,
			opensPerSec: 800,
			// (2000 + 6000) attempts over 10 s, each wanting 60 s.
			demand:           48000,
			plateauAtLeast:   48000,
			plateauWithReuse: 800, // 800 attempts/s × 1 s, none open
		},
		{
			// A Go client's failed dial is three calls, two of them
			// immediate retries: its attempts, not its calls, are the
			// demand.
			name: "full destination, two of every three failed calls retries",
			window: []Snapshot{
				eventsFor(snapAt(5, 0, full), t0, 1000, 3000, 2000),
				eventsFor(snapAt(10, 0, full), t0.Add(5*time.Second), 1000, 3000, 2000),
			},
			available: true,
			openers: []Opener{
				{PID: 20, Command: "curl", Failures: 6000, Retries: 4000, OpensPerSecond: 200, FailuresPerSecond: 200},
				{PID: 10, Command: "nginx", Unit: "nginx.service", Connected: 2000, OpensPerSecond: 200},
			},
			failures:    6000,
			opensPerSec: 400,
			// (2000 + 6000 - 4000) attempts over 10 s, each wanting 60 s.
			demand:           24000,
			plateauAtLeast:   24000,
			plateauWithReuse: 400,
		},
		{
			name: "events refused: the reason, no openers",
			window: []Snapshot{func() Snapshot {
				s := snapAt(10, 0, full)
				s.EventsUnavailable = "kernel events unavailable: no kernel BTF"
				return s
			}()},
			unavailable: "kernel events unavailable: no kernel BTF",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Analyze(tt.window)
			if f.Events.Available != tt.available || f.Events.Unavailable != tt.unavailable {
				t.Fatalf("events %+v", f.Events)
			}
			w := f.Worst
			if w == nil || w.Remote != "10.0.0.2:80" || !w.Full {
				t.Fatalf("worst %+v", w)
			}
			if !tt.available {
				if w.ConnectFailures != nil || w.Demand != nil || len(w.Openers) != 0 {
					t.Errorf("figures without events: %+v", w)
				}
				return
			}
			if len(w.Openers) != len(tt.openers) {
				t.Fatalf("openers %+v, want %+v", w.Openers, tt.openers)
			}
			for i := range tt.openers {
				if w.Openers[i] != tt.openers[i] {
					t.Errorf("opener %d: %+v, want %+v", i, w.Openers[i], tt.openers[i])
				}
			}
			if *w.ConnectFailures != tt.failures || *w.OpensPerSecond != tt.opensPerSec || *w.Demand != tt.demand || w.Plateau < tt.plateauAtLeast {
				t.Errorf("failures %d, opens/s %v, demand %d, plateau %d", *w.ConnectFailures, *w.OpensPerSecond, *w.Demand, w.Plateau)
			}
			if w.PlateauWithReuse != tt.plateauWithReuse {
				t.Errorf("plateau with reuse %d, want %d (open %d)", w.PlateauWithReuse, tt.plateauWithReuse, w.Open)
			}
			if f.Events.Seconds != 10 || f.Events.Failures != 6000 {
				t.Errorf("window events %+v", f.Events)
			}
		})
	}
}
