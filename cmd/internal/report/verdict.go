// Package report is tcp-advisor's presentation: everything a person or a
// script reads from a command. It turns findings and the rules that fired
// on them into a diagnosis (a verdict first, then each finding with the
// arithmetic behind it) and a monitoring plugin's check line, and renders
// plans and the state's status, each as text or JSON. It grades nothing
// itself: every warning or critical level comes from a policy rule, so
// `diagnose` warns on exactly the rules `plan` acts on.
package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// The topics of the findings, in the order they are listed at equal level.
const (
	TopicPorts     = "ephemeral-ports"
	TopicRate      = "connection-rate"
	TopicTimeWait  = "time-wait"
	TopicFinWait2  = "fin-wait2"
	TopicCloseWait = "close-wait"
	TopicQueues    = "queues"
)

var topicOrder = []string{TopicPorts, TopicTimeWait, TopicCloseWait, TopicFinWait2, TopicQueues, TopicRate}

// Verdict is one finding explained: what was seen, with its numbers and the
// arithmetic, how bad it is and what to do.
type Verdict struct {
	Topic string `json:"topic"`
	// Level is ok or info for a finding no rule graded; warning or
	// critical only from the rule named in Rule.
	Level advisor.Severity `json:"level"`
	Rule  string           `json:"rule,omitempty" jsondoc:"for a level a rule gave"`
	// RuleSource is where the rule is declared.
	RuleSource string `json:"rule_source,omitempty" jsondoc:"the rule's file:line:column"`
	// Summary is the headline: the rule's message, or the plain facts.
	Summary string   `json:"summary"`
	Math    []string `json:"math" jsondoc:"lines of arithmetic"`
	// AppBug is true where no sysctl can help: the application must change.
	AppBug bool   `json:"app_bug" jsondoc:"no sysctl can help: the application must change"`
	Action string `json:"action,omitempty"`
}

// facts is what the findings say about one topic, ungraded: its verdict's
// level is ok, since levels come from rules.
type facts struct {
	summary string
	math    []string
	appBug  bool
}

// Verdicts explains the findings: one verdict per rule that fired, with the
// arithmetic of its topic, and one ungraded verdict for each topic no rule
// fired on. Worst first.
func Verdicts(f advisor.Findings, recs []policies.Recommendation) []Verdict {
	topics := map[string]facts{
		TopicPorts:     portFacts(f),
		TopicRate:      rateFacts(f),
		TopicTimeWait:  timeWaitFacts(f),
		TopicFinWait2:  finWait2Facts(f),
		TopicCloseWait: closeWaitFacts(f),
		TopicQueues:    queueFacts(f),
	}
	var out []Verdict
	graded := map[string]bool{}
	for _, r := range recs {
		v := Verdict{Topic: r.Topic, Level: r.Severity, Rule: r.Rule, RuleSource: policies.RangeString(r.Source),
			Summary: r.Summary, Action: r.Advice, Math: []string{}}
		if v.Summary == "" {
			v.Summary, v.Action = r.Advice, ""
		}
		if t, ok := topics[r.Topic]; ok {
			if !graded[r.Topic] {
				v.Math = t.math
			}
			v.AppBug = t.appBug
		}
		graded[r.Topic] = true
		out = append(out, v)
	}
	for _, topic := range topicOrder {
		if graded[topic] {
			continue
		}
		t := topics[topic]
		out = append(out, Verdict{Topic: topic, Level: advisor.SeverityOK, Summary: t.summary, Math: t.math, AppBug: t.appBug})
	}
	slices.SortStableFunc(out, func(a, b Verdict) int {
		return cmp.Or(cmp.Compare(advisor.Severity(b.Level).Rank(), advisor.Severity(a.Level).Rank()),
			cmp.Compare(slices.Index(topicOrder, a.Topic), slices.Index(topicOrder, b.Topic)))
	})
	return out
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", v*100) }

func portFacts(f advisor.Findings) facts {
	p := f.Ports
	var t facts
	listen := "not known (no socket dump)"
	if p.ListenPortsInRange != nil {
		listen = fmt.Sprint(*p.ListenPortsInRange)
	}
	t.math = append(t.math,
		fmt.Sprintf("ip_local_port_range %s = %d ports − %d reserved − %s listening inside = %d usable per destination",
			p.Range(), p.Size, p.ReservedInRange, listen, p.Usable),
		fmt.Sprintf("pre-check: %d sockets hold local ports (sockstat inuse + tw, and in the initial namespace bound-only sockets up to alloc) vs %d usable",
			p.SocketsHoldingPorts, p.Usable))
	if p.BindSource != "" {
		t.math = append(t.math, fmt.Sprintf("bind() to port 0 on %s: %d distinct ports taken on it or the wildcard = %s of the range less reserved ports",
			p.BindSource, p.DistinctInUse, pct(p.BindUtilization)))
	}
	w := f.Worst
	if w == nil {
		if p.ExhaustionPossible {
			t.summary = "Enough sockets exist to exhaust a destination, but none holds ephemeral ports towards a single one."
		} else {
			t.summary = fmt.Sprintf("%d sockets hold local ports, fewer than the %d one destination may use: no destination can run out.",
				p.SocketsHoldingPorts, p.Usable)
		}
		return t
	}
	t.math = append(t.math, destinationMath(*w, p.DestinationCount)...)
	t.summary = fmt.Sprintf("The busiest destination, %s → %s, has %d of %d usable ports unavailable (%s); at its present rate it levels off at %d (%s).",
		w.Local, w.Remote, w.PortsUnavailable, w.PortsUsable, pct(w.Utilization), w.Plateau, pct(w.PlateauUtilization))
	return t
}

// destinationMath is the arithmetic behind one destination's figures.
func destinationMath(w advisor.DestinationUse, count int) []string {
	reuse := "tcp_tw_reuse not in effect towards it: every TIME_WAIT socket blocks its port for 60 s"
	if w.ReuseInEffect {
		reuse = fmt.Sprintf("tcp_tw_reuse in effect towards it: %d TIME_WAIT sockets older than the reuse delay can be reused", w.TimeWaitReusable)
	}
	out := []string{
		fmt.Sprintf("%s → %s: %d sockets hold ports (%d in TIME_WAIT, %d orphaned in FIN_WAIT2, %d open); %s → %d unavailable of %d usable = %s, %d left (%d destination(s) in all)",
			w.Local, w.Remote, w.PortsInUse, w.TimeWait, w.FinWait2Orphaned, w.Open, reuse, w.PortsUnavailable, w.PortsUsable, pct(w.Utilization), w.Headroom, count),
		fmt.Sprintf("close rate from TIME_WAIT ages %.1f/s × %.0f s held + orphans from their ages %.1f/s × %.0f s waiting for the peer's FIN + %d open = plateau %d = %s of usable",
			w.CloseRate, w.HoldSeconds, w.OrphanCloseRate, w.OrphanHoldSeconds, w.Open, w.Plateau, pct(w.PlateauUtilization)),
	}
	if w.FinWait2Orphaned > 0 {
		out = append(out, fmt.Sprintf("%s does not close its end: tcp_tw_reuse never frees an orphan's port; a lower tcp_fin_timeout does", w.Remote))
	}
	switch {
	case w.Full && w.Demand != nil:
		out = append(out, fmt.Sprintf("no usable port left: connect() fails with EADDRNOTAVAIL; the attempts measured below ask for %d ports, the plateau", *w.Demand))
	case w.Full:
		out = append(out, "no usable port left: connect() fails with EADDRNOTAVAIL, and failed calls count nowhere, so the demand is at least the capacity")
	}
	if w.Demand != nil && w.OpensPerSecond != nil {
		retried := ""
		if w.ConnectRetries != nil && *w.ConnectRetries > 0 {
			retried = fmt.Sprintf(" (%d of them immediate retries)", *w.ConnectRetries)
		}
		line := fmt.Sprintf("connection events: %.1f connect() attempts/s towards it; %d connect() calls failed for lack of a port%s, %.1f failed attempts/s; × %.0f s held = demand %d ports",
			*w.OpensPerSecond, *w.ConnectFailures, retried, *w.FailuresPerSecond, w.HoldSeconds, *w.Demand)
		for i, o := range w.Openers[:min(len(w.Openers), 3)] {
			sep := "; by "
			if i > 0 {
				sep = ", "
			}
			line += fmt.Sprintf("%s%s %.1f/s (%.1f/s failed)", sep, ownerString(o.PID, o.Command, o.Unit), o.OpensPerSecond, o.FailuresPerSecond)
		}
		out = append(out, line)
	}
	if w.SecondsToExhaustion != nil {
		out = append(out, fmt.Sprintf("%d ports left at %s: runs out in %s", w.Headroom, w.ExhaustionBasis, seconds(*w.SecondsToExhaustion)))
	} else {
		out = append(out, "the plateau fits the usable ports: at the present rates it does not run out")
	}
	return out
}

func seconds(s float64) string {
	if s < 1 {
		return "under a second"
	}
	return fmt.Sprintf("%.0f s", s)
}

func rateFacts(f advisor.Findings) facts {
	c := f.Connections
	var t facts
	if c.ActiveOpensPerSecond == nil {
		t.summary = "One sample has no rates: take two or more (--samples 2) to see new connections per second."
		return t
	}
	t.math = append(t.math, fmt.Sprintf("Tcp ActiveOpens rose %.1f/s over %.1f s: connect() attempts that sent a SYN, failed ones included; a connect() that found no port never counts",
		*c.ActiveOpensPerSecond, f.Window.Seconds),
		fmt.Sprintf("× 60 s = %.0f: the most TIME_WAIT sockets the host's outgoing connections could keep, not any one destination's demand", *c.TimeWaitDemandBound))
	t.summary = fmt.Sprintf("%.1f new outgoing and %.1f incoming connections per second.", *c.ActiveOpensPerSecond, *c.PassiveOpensPerSecond)
	return t
}

func timeWaitFacts(f advisor.Findings) facts {
	tw := f.TimeWait
	var t facts
	t.math = append(t.math, fmt.Sprintf("%d TIME_WAIT of tcp_max_tw_buckets %d; TCPTimeWaitOverflow %.0f total, +%.0f in window",
		tw.Count, tw.MaxBuckets, tw.OverflowTotal, tw.OverflowDelta))
	if tw.Outgoing != nil {
		t.math = append(t.math, fmt.Sprintf("%d of them on ephemeral ports: connections this host opened and closed first", *tw.Outgoing))
	}
	t.summary = fmt.Sprintf("%d sockets in TIME_WAIT; each holds its port towards its destination for 60 s, whatever tcp_fin_timeout says, and no file descriptor.", tw.Count)
	return t
}

func finWait2Facts(f advisor.Findings) facts {
	w := f.FinWait2
	var t facts
	limit := ""
	if f.Orphans.Max > 0 {
		limit = fmt.Sprintf(" of tcp_max_orphans %d", f.Orphans.Max)
	}
	t.math = append(t.math, fmt.Sprintf("%d FIN_WAIT2, %d of them orphaned (each waits %.0f s from tcp_fin_timeout %d s; %d as timewait sockets sharing tcp_max_tw_buckets %d with TIME_WAIT: %d in use); %d orphaned sockets host-wide in all states%s",
		w.Count, w.Orphaned, w.OrphanHoldSeconds, w.FinTimeout, w.OrphanedTimeWait, f.TimeWait.MaxBuckets, f.TimeWait.BucketsInUse, f.Orphans.Count, limit))
	t.summary = fmt.Sprintf("%d sockets wait in FIN_WAIT2 for the peer to close, %d of them orphaned.", w.Count, w.Orphaned)
	return t
}

func closeWaitFacts(f advisor.Findings) facts {
	c := f.CloseWait
	var t facts
	if c.Count == 0 {
		t.summary = "No sockets in CLOSE_WAIT."
		return t
	}
	t.appBug = true
	top := c.ByOwner[0]
	owner := ownerString(top.PID, top.Command, top.Unit)
	t.math = append(t.math, fmt.Sprintf("%d CLOSE_WAIT, %+d over %d dump(s); %s holds %d", c.Count, c.Growth, c.Samples, owner, top.Count),
		fmt.Sprintf("%d with Recv-Q ≥ 1 (the peer's FIN never read), %d with Recv-Q 0 (end-of-file read, close() never called)", c.UnreadEOF, c.EOFRead))
	remotes := make([]string, 0, 3)
	for _, r := range c.ByRemote[:min(3, len(c.ByRemote))] {
		remotes = append(remotes, fmt.Sprintf("%s ×%d", r.Remote, r.Count))
	}
	t.math = append(t.math, fmt.Sprintf("%d remote addresses, pattern %s: %s", c.Remotes, c.Pattern, strings.Join(remotes, ", ")))
	if c.Stuck != nil {
		t.math = append(t.math, fmt.Sprintf("%d of %d sockets present in all %d dumps (stuck)", *c.Stuck, c.Count, c.Samples))
	}
	t.summary = fmt.Sprintf("%d sockets in CLOSE_WAIT, most held by %s: the peer closed and the application has not called close(); no sysctl ends CLOSE_WAIT.", c.Count, owner)
	return t
}

func ownerString(pid int, command, unit string) string {
	if pid == 0 {
		return "an unknown process"
	}
	// Raw here: text output escapes the whole line it lands in (Printable),
	// JSON keeps it as a string.
	return fmt.Sprintf("%s (pid %d, unit %s)", orUnknown(command), pid, orUnknown(unit))
}

func queueFacts(f advisor.Findings) facts {
	q := f.Queues
	var t facts
	t.math = append(t.math,
		fmt.Sprintf("Recv-Q: %d sockets hold %d bytes; Send-Q: %d sockets hold %d bytes",
			q.Backlog.RecvQSockets, q.Backlog.RecvQBytes, q.Backlog.SendQSockets, q.Backlog.SendQBytes),
		fmt.Sprintf("ListenOverflows %.0f total, +%.0f in window; ListenDrops +%.0f", q.ListenOverflowsTotal, q.ListenOverflowsDelta, q.ListenDropsDelta))
	for _, l := range q.Listeners {
		t.math = append(t.math, fmt.Sprintf("listener %s: %d connections wait for accept(), backlog %d (full above %d)", l.Address, l.Queued, l.Backlog, l.Backlog))
	}
	t.math = append(t.math, fmt.Sprintf("SYN queues: TCPReqQFullDrop +%.0f, TCPReqQFullDoCookies +%.0f in window", q.ReqQFullDropDelta, q.ReqQFullDoCookiesDelta))
	for _, s := range q.SynQueues {
		t.math = append(t.math, fmt.Sprintf("listener %s: %d requests in SYN_RECV, backlog %d (full above %d)", s.Address, s.SynRecv, s.Backlog, s.Backlog))
	}
	t.summary = fmt.Sprintf("%d listener(s) with connections waiting for accept(); %.0f listen overflows in the window.", len(q.Listeners), q.ListenOverflowsDelta)
	return t
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
