// Package report turns findings into what people read: plain-language
// verdicts with the arithmetic behind them, as text or JSON.
package report

import (
	"fmt"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/internal/textsafe"
)

// Level grades a verdict.
type Level string

// The verdict levels, mildest first.
const (
	OK       Level = "ok"
	Info     Level = "info"
	Warning  Level = "warning"
	Critical Level = "critical"
)

// Utilization thresholds for one destination's ephemeral ports.
const (
	warnUtilization     = 0.7
	criticalUtilization = 0.9
)

// Verdict is one finding explained: what was seen, with its numbers, what it
// means, and what to do.
type Verdict struct {
	Topic   string   `json:"topic"`
	Level   Level    `json:"level"`
	Summary string   `json:"summary"`
	Math    []string `json:"math"`
	// AppBug is true where no sysctl can help: the application must change.
	AppBug bool   `json:"app_bug"`
	Action string `json:"action"`
}

// Verdicts explains findings, one verdict per topic, in a fixed order.
func Verdicts(f advisor.Findings) []Verdict {
	return []Verdict{
		portsVerdict(f),
		rateVerdict(f),
		timeWaitVerdict(f),
		finWait2Verdict(f),
		closeWaitVerdict(f),
		queueVerdict(f),
	}
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", v*100) }

func portsVerdict(f advisor.Findings) Verdict {
	p := f.Ports
	v := Verdict{Topic: "ephemeral-ports", Level: OK}
	v.Math = append(v.Math,
		fmt.Sprintf("ip_local_port_range %d-%d = %d ports, %d reserved inside → %d usable per destination",
			p.Range.Low, p.Range.High, p.Size, p.ReservedInRange, p.Usable),
		fmt.Sprintf("pre-check: %d sockets hold local ports (sockstat TCP inuse + TCP6 inuse + tw) vs %d usable",
			p.SocketsHoldingPorts, p.Usable))
	if p.DistinctInUse > 0 {
		v.Math = append(v.Math, fmt.Sprintf("outgoing sockets hold %d distinct ports = %s of the usable range (what bind() to port 0 needs free)",
			p.DistinctInUse, pct(p.BindUtilization)))
	}
	bindShort := p.BindUtilization >= warnUtilization
	w := f.Connections.Worst
	if w == nil {
		if p.ExhaustionPossible {
			v.Summary = "Enough sockets exist to exhaust a destination, but none holds ephemeral ports towards a single one."
		} else {
			v.Summary = "No destination can run out of ephemeral ports: fewer sockets hold ports than one destination may use."
		}
		return v
	}
	v.Math = append(v.Math, fmt.Sprintf("worst destination %s → %s: %d of %d ports in use = %s, %d left (%d destination(s) in all)",
		w.Local, w.Remote, w.PortsInUse, w.PortsUsable, pct(w.Utilization), w.Headroom, p.DestinationCount))
	switch {
	case w.Utilization >= criticalUtilization:
		v.Level = Critical
		v.Summary = fmt.Sprintf("Connections to %s are about to fail with EADDRNOTAVAIL (\"Cannot assign requested address\"): %s of its ports are taken.", w.Remote, pct(w.Utilization))
	case w.Utilization >= warnUtilization:
		v.Level = Warning
		v.Summary = fmt.Sprintf("Connections to %s use %s of the ephemeral ports available to them.", w.Remote, pct(w.Utilization))
	case bindShort:
		v.Level = Warning
		if p.BindUtilization >= criticalUtilization {
			v.Level = Critical
		}
		v.Summary = fmt.Sprintf("Every destination has room (the busiest, %s, uses %s), but %s of the ports are held by some socket: bind() to port 0, and connect() after such a bind(), will fail with EADDRINUSE.",
			w.Remote, pct(w.Utilization), pct(p.BindUtilization))
		v.Action = "Widen net.ipv4.ip_local_port_range; applications that bind() before connect() should set IP_BIND_ADDRESS_NO_PORT so connect() picks the port per destination."
		return v
	default:
		v.Summary = fmt.Sprintf("Ephemeral ports are fine: the busiest destination, %s, uses %s of them.", w.Remote, pct(w.Utilization))
		return v
	}
	v.Action = "Widen net.ipv4.ip_local_port_range (reserving listening ports inside it), enable net.ipv4.tcp_tw_reuse=1 if this host connects out and closes first, or spread connections over more backend addresses or ports; keep connections alive where the protocol allows. tcp_fin_timeout does not shorten TIME_WAIT."
	return v
}

func rateVerdict(f advisor.Findings) Verdict {
	c := f.Connections
	v := Verdict{Topic: "connection-rate", Level: OK}
	if c.ActiveOpensPerSecond == nil {
		v.Level = Info
		v.Summary = "One sample has no rates: take two or more (--samples 2) to see new connections per second."
		return v
	}
	v.Math = append(v.Math, fmt.Sprintf("Tcp ActiveOpens rose %.1f/s over %.1fs; × 60 s in TIME_WAIT = %.0f ports kept busy by an active closer",
		*c.ActiveOpensPerSecond, f.WindowSeconds, *c.TimeWaitDemand))
	v.Summary = fmt.Sprintf("%.1f new outgoing connections per second.", *c.ActiveOpensPerSecond)
	if c.SecondsToExhaustion != nil && c.Worst != nil {
		v.Math = append(v.Math, fmt.Sprintf("worst destination headroom %d ports ÷ %s rate = %.1fs to exhaustion",
			c.Worst.Headroom, c.ExhaustionBasis, *c.SecondsToExhaustion))
		if *c.SecondsToExhaustion < 300 {
			v.Level = Warning
			v.Summary += fmt.Sprintf(" At this rate %s runs out of ports in %.0f s.", c.Worst.Remote, *c.SecondsToExhaustion)
		}
	}
	if c.Worst != nil && *c.TimeWaitDemand > float64(c.Worst.PortsUsable) && v.Level == OK {
		v.Level = Warning
		v.Summary += " If these all went to one destination, its TIME_WAIT demand would exceed the usable range."
	}
	return v
}

func timeWaitVerdict(f advisor.Findings) Verdict {
	t := f.TimeWait
	v := Verdict{Topic: "time-wait", Level: OK}
	v.Math = append(v.Math, fmt.Sprintf("%d TIME_WAIT of tcp_max_tw_buckets %d; TCPTimeWaitOverflow %.0f total, +%.0f in window",
		t.Count, t.MaxBuckets, t.OverflowTotal, t.OverflowDelta))
	v.Summary = fmt.Sprintf("%d sockets in TIME_WAIT. They hold no file descriptor and expire after a fixed 60 s; alone they are not a problem.", t.Count)
	if t.OverflowDelta > 0 {
		v.Level = Warning
		v.Summary = fmt.Sprintf("The TIME_WAIT table overflowed %.0f times: the kernel destroyed sockets instead of keeping them in TIME_WAIT.", t.OverflowDelta)
		v.Action = "Raise net.ipv4.tcp_max_tw_buckets (each bucket costs a few hundred bytes), or reduce churn with keep-alive."
	}
	return v
}

// finWait2Threshold is the FIN_WAIT2 count from which the verdict warns.
const finWait2Threshold = 1000

func finWait2Verdict(f advisor.Findings) Verdict {
	w := f.FinWait2
	v := Verdict{Topic: "fin-wait2", Level: OK}
	limit := ""
	if w.MaxOrphans > 0 {
		limit = fmt.Sprintf(" of tcp_max_orphans %d", w.MaxOrphans)
	}
	// An orphan in FIN_WAIT2 becomes a timewait sock when tcp_fin_timeout
	// is at most 60 s: sockstat counts it in tw, not orphan, and it takes
	// a tcp_max_tw_buckets slot.
	v.Math = append(v.Math, fmt.Sprintf("%d FIN_WAIT2, %d of them orphaned (those share tcp_max_tw_buckets %d with TIME_WAIT); %d orphaned sockets in all states%s; tcp_fin_timeout %d s",
		w.Count, w.Orphaned, f.TimeWait.MaxBuckets, w.Orphans, limit, w.FinTimeout))
	v.Summary = fmt.Sprintf("%d sockets wait in FIN_WAIT2 for the peer to close.", w.Count)
	if w.Orphaned >= finWait2Threshold {
		v.Level = Warning
		v.Summary = fmt.Sprintf("%d orphaned sockets wait in FIN_WAIT2: peers do not finish closing, and each waits up to tcp_fin_timeout (%d s).", w.Orphaned, w.FinTimeout)
		v.Action = "Lower net.ipv4.tcp_fin_timeout so orphans in FIN_WAIT2 are freed sooner (it is the one thing it governs; TIME_WAIT stays 60 s); find the peers that never send their FIN."
	}
	return v
}

func closeWaitVerdict(f advisor.Findings) Verdict {
	c := f.CloseWait
	v := Verdict{Topic: "close-wait", Level: OK}
	if c.Count == 0 {
		v.Summary = "No sockets in CLOSE_WAIT."
		return v
	}
	v.AppBug = true
	v.Level = Warning
	top := c.ByOwner[0]
	owner := fmt.Sprintf("%s (pid %d, unit %s)", orUnknown(top.Command), top.PID, orUnknown(top.Unit))
	if top.PID == 0 {
		owner = "an unknown process"
	}
	v.Math = append(v.Math, fmt.Sprintf("%d CLOSE_WAIT, %+d over %.1fs; %s holds %d", c.Count, c.Growth, f.WindowSeconds, owner, top.Count))
	remotes := make([]string, 0, 3)
	for _, r := range c.ByRemote[:min(3, len(c.ByRemote))] {
		remotes = append(remotes, fmt.Sprintf("%s ×%d", r.Remote, r.Count))
	}
	v.Math = append(v.Math, fmt.Sprintf("%d remote addresses, pattern %s: %s", c.Remotes, c.Pattern, strings.Join(remotes, ", ")))
	if c.Stuck != nil {
		v.Math = append(v.Math, fmt.Sprintf("%d of %d sockets present in all %d samples (stuck)", *c.Stuck, c.Count, f.Samples))
	}
	v.Summary = fmt.Sprintf("%d sockets in CLOSE_WAIT, most held by %s: the peer closed and the application never called close().", c.Count, owner)
	if c.Growth > 0 || (c.Stuck != nil && *c.Stuck > 0) {
		v.Level = Critical
		v.Summary += " They are not going away."
	}
	switch c.Pattern {
	case advisor.PatternOneRemote:
		v.Action = fmt.Sprintf("Application bug; no sysctl ends CLOSE_WAIT. Look at the code path talking to %s in %s: a response or error path that skips close(). Restarting the unit frees the sockets for now.", c.ByRemote[0].Remote, owner)
	default:
		v.Action = fmt.Sprintf("Application bug; no sysctl ends CLOSE_WAIT. Many peers are affected, so %s leaks on a common path (an error or timeout branch that skips close()). Restarting the unit frees the sockets for now.", owner)
	}
	return v
}

func queueVerdict(f advisor.Findings) Verdict {
	q := f.Queues
	v := Verdict{Topic: "queues", Level: OK}
	v.Math = append(v.Math,
		fmt.Sprintf("Recv-Q: %d sockets hold %d bytes; Send-Q: %d sockets hold %d bytes",
			q.Backlog.RecvQSockets, q.Backlog.RecvQBytes, q.Backlog.SendQSockets, q.Backlog.SendQBytes),
		fmt.Sprintf("ListenOverflows %.0f total, +%.0f in window; ListenDrops +%.0f", q.ListenOverflowsTotal, q.ListenOverflowsDelta, q.ListenDropsDelta))
	v.Summary = "Socket queues drain and no listener overflowed in the window."
	for _, l := range q.Listeners {
		v.Math = append(v.Math, fmt.Sprintf("listener %s: %d connections wait for accept(), backlog %d", l.Address, l.Queued, l.Backlog))
	}
	if q.ListenOverflowsDelta > 0 || q.ListenDropsDelta > 0 {
		v.Level = Warning
		v.Summary = "A listener's accept queue overflowed: connections were dropped before the application accepted them."
		v.Action = "Make the application accept faster, and raise its listen() backlog together with net.core.somaxconn (the kernel caps the backlog at somaxconn)."
	}
	return v
}

// orUnknown prints a name another user chose (command, unit) escaped, or
// "unknown".
func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return textsafe.Escape(s)
}
