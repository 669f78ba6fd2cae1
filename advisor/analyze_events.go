package advisor

import (
	"cmp"
	"math"
	"slices"
)

// EventFindings sums the kernel's connection events over the window.
type EventFindings struct {
	// Available is false where the kernel refused the events program or
	// nobody asked for it; Unavailable then says why.
	Available   bool   `json:"available"`
	Unavailable string `json:"unavailable,omitempty" jsondoc:"absent when available"`
	// Seconds is the time the events cover.
	Seconds float64 `json:"seconds"`
	// ConnTotals are the namespace's events (opens, connect_failures,
	// active_closes, connect_retries): events' own figures in JSON.
	ConnTotals
	// Overflow counts events the flow map had no room for (host-wide):
	// Totals still count them, the per-process figures do not.
	Overflow uint64 `json:"overflow" jsondoc:"events the flow map had no room for"`
}

// Opener is one process's connect() calls towards a destination, from the
// kernel's connection events.
type Opener struct {
	PID     int    `json:"pid" cty:"pid" doc:"process id"`
	Command string `json:"command" cty:"command" doc:"its command"`
	Unit    string `json:"unit" cty:"unit" doc:"the systemd unit or container scope of its cgroup"`
	// Connected counts the calls that got a port, Failures those that
	// found none (EADDRNOTAVAIL), Retries those of Failures that repeated
	// its thread's failure at once (ConnTotals.Retries), over the events'
	// window. OpensPerSecond is its attempts (every call but the
	// retries) per second of it: the rate it tries to open connections
	// at, which a full range does not lower; FailuresPerSecond the
	// attempts that failed.
	Connected         uint64  `json:"connected" cty:"connected" doc:"its calls that got a port"`
	Failures          uint64  `json:"connect_failures" cty:"connect_failures" doc:"its calls that found none (EADDRNOTAVAIL), immediate retries included"`
	Retries           uint64  `json:"connect_retries" cty:"connect_retries" doc:"of connect_failures, the calls that repeated the same thread's failure towards it at once (Go's dialer makes two per failed dial): no new attempt"`
	OpensPerSecond    float64 `json:"opens_per_second" cty:"opens_per_second" doc:"its attempts per second (every call but connect_retries), failed ones included: the rate it tries to open connections at, which a full range does not lower"`
	FailuresPerSecond float64 `json:"failures_per_second" cty:"failures_per_second" doc:"its failed attempts (connect_failures less connect_retries) per second"`
}

// windowEvents sums the events of the window's snapshots. Each covers
// the time since its observer's previous snapshot, and the agent's window
// may skip ticks, so the time is the sum of their spans.
func windowEvents(window []Snapshot) (EventFindings, []ConnFlow) {
	var f EventFindings
	var flows []ConnFlow
	for _, s := range window {
		if s.Events == nil {
			if s.EventsUnavailable != "" {
				f.Unavailable = s.EventsUnavailable
			}
			continue
		}
		ev := s.Events
		f.Available = true
		f.Seconds += ev.Until.Sub(ev.Since).Seconds()
		f.ConnTotals.Add(ev.Totals)
		f.Overflow += ev.Overflow
		flows = append(flows, ev.Flows...)
	}
	if f.Available {
		f.Unavailable = ""
	}
	f.Seconds = round4(f.Seconds)
	return f, flows
}

// analyzeEvents sets the window's event totals, and for each listed
// destination who opened connections towards it and whose connect() calls
// failed, and the demand those attempts measure.
func analyzeEvents(f *Findings, window []Snapshot) {
	var flows []ConnFlow
	f.Events, flows = windowEvents(window)
	if !f.Events.Available {
		return
	}
	secs := f.Events.Seconds
	sc := window[len(window)-1].Sysctls
	for i := range f.Destinations {
		d := &f.Destinations[i]
		var total ConnTotals
		d.Openers = openersOf(flows, d.Local, d.Remote, secs, &total)
		failures, retries := total.Failures, total.Retries
		d.ConnectFailures, d.ConnectRetries = &failures, &retries
		if secs <= 0 {
			continue
		}
		// Attempts, not calls: a connect() retried at once after
		// EADDRNOTAVAIL asks for the same connection again.
		attempts := float64(total.Attempts()) / secs
		opens := round4(attempts)
		failRate := round4(float64(total.FailedAttempts()) / secs)
		d.OpensPerSecond, d.FailuresPerSecond = &opens, &failRate
		// Every attempt wants a port for as long as a closed connection
		// keeps one: the demand the range would have to hold.
		demand := int(math.Ceil(attempts * d.HoldSeconds))
		d.Demand = &demand
		if d.Full {
			d.Plateau = max(d.Plateau, demand)
			// The same attempts with tcp_tw_reuse = 1, each keeping its
			// port tcp_tw_reuse_delay: the plateau reuse would leave,
			// where the measured close rate is only what the range let
			// through.
			if reuse := newPortRules(sc, d.PortsUsable); !d.ReuseInEffect && reuse.timestamps {
				d.PlateauWithReuse = max(d.PlateauWithReuse, d.Open+int(math.Ceil(attempts*reuse.delay))+d.OrphanPlateau)
			}
			if d.PortsUsable > 0 {
				d.PlateauUtilization = max(d.PlateauUtilization, round4(float64(d.Plateau)/float64(d.PortsUsable)))
			}
		}
	}
	if f.Worst != nil && len(f.Destinations) > 0 {
		worst := f.Destinations[0]
		f.Worst = &worst
	}
}

// openersOf sums the flows towards a destination by process, most calls
// first, and adds them all to total.
func openersOf(flows []ConnFlow, local, remote string, secs float64, total *ConnTotals) []Opener {
	type proc struct {
		pid           int
		command, unit string
	}
	sums := map[proc]ConnTotals{}
	for _, fl := range flows {
		k, ok := fl.Dest()
		if !ok || k.Local.String() != local || k.Remote.String() != remote {
			continue
		}
		p := proc{fl.PID, fl.Command, fl.Unit}
		t := sums[p]
		t.Add(fl.ConnTotals)
		sums[p] = t
		total.Add(fl.ConnTotals)
	}
	out := []Opener{}
	for p, t := range sums {
		o := Opener{PID: p.pid, Command: p.command, Unit: p.unit, Connected: t.Connected(), Failures: t.Failures, Retries: t.Retries}
		if secs > 0 {
			o.OpensPerSecond = round4(float64(t.Attempts()) / secs)
			o.FailuresPerSecond = round4(float64(t.FailedAttempts()) / secs)
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Opener) int {
		return cmp.Or(cmp.Compare(b.Connected+b.Failures, a.Connected+a.Failures), cmp.Compare(a.PID, b.PID))
	})
	return out
}
