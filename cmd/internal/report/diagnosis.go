package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/textwrap"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// Diagnosis is the output of `tcp-advisor diagnose`: a verdict, the
// findings with their verdicts, and the sysctls in play. Its JSON form is
// documented in README.md.
type Diagnosis struct {
	// Level is the worst verdict's level; Counts counts verdicts by level.
	Level  advisor.Severity         `json:"level" jsondoc:"the worst verdict's level: ok, info, warning, critical"`
	Counts map[advisor.Severity]int `json:"counts" jsondoc:"verdicts per level"`
	// Summary is the one-line verdict text output opens with.
	Summary string `json:"summary" jsondoc:"the one-line verdict"`
	advisor.Findings
	Sysctls  advisor.Sysctls `json:"sysctls" jsondoc:"every registered sysctl read, by full name, whitespace-normalized"`
	Verdicts []Verdict       `json:"verdicts" jsondoc:"worst first"`
}

// NewDiagnosis explains findings from a window whose latest snapshot is
// last, with the recommendations the policies made on them.
func NewDiagnosis(last advisor.Snapshot, f advisor.Findings, recs []policies.Recommendation) Diagnosis {
	d := Diagnosis{Findings: f, Sysctls: last.Sysctls, Verdicts: Verdicts(f, recs), Level: advisor.SeverityOK,
		Counts: map[advisor.Severity]int{advisor.SeverityOK: 0, advisor.SeverityInfo: 0, advisor.SeverityWarning: 0, advisor.SeverityCritical: 0}}
	for _, v := range d.Verdicts {
		d.Counts[v.Level]++
		if advisor.Severity(v.Level).Rank() > advisor.Severity(d.Level).Rank() {
			d.Level = v.Level
		}
	}
	d.Summary = summaryLine(d)
	return d
}

// summaryLine is the verdict in one line: the worst level, the worst
// destination's use, the leak if any, and the rules that fired.
func summaryLine(d Diagnosis) string {
	var parts []string
	if w := d.Worst; w != nil {
		parts = append(parts, fmt.Sprintf("busiest destination %s → %s at %s of %d ports (plateau %s)",
			w.Local, w.Remote, pct(w.Utilization), w.PortsUsable, pct(w.PlateauUtilization)))
	} else {
		parts = append(parts, fmt.Sprintf("no destination can run out (%d sockets hold ports, %d usable)", d.Ports.SocketsHoldingPorts, d.Ports.Usable))
	}
	if cw := d.CloseWait; cw.Count > 0 {
		top := cw.ByOwner[0]
		parts = append(parts, fmt.Sprintf("%d CLOSE_WAIT, %d held by %s", cw.Count, top.Count, ownerString(top.PID, top.Command, top.Unit)))
	}
	var rules []string
	for _, v := range d.Verdicts {
		if v.Rule != "" && advisor.Severity(v.Level).Rank() >= advisor.Severity(advisor.SeverityWarning).Rank() {
			rules = append(rules, v.Rule)
		}
	}
	if len(rules) > 0 {
		parts = append(parts, "rules: "+strings.Join(rules, ", "))
	} else {
		parts = append(parts, "no rule warns")
	}
	return strings.ToUpper(string(d.Level)) + ": " + strings.Join(parts, "; ")
}

// WriteJSON writes d as indented JSON.
func (d Diagnosis) WriteJSON(w io.Writer) error { return writeJSON(w, d) }

// TextOptions say how text output looks.
type TextOptions struct {
	// Color marks levels with ANSI colours (only on a terminal, and not
	// when NO_COLOR is set: the caller decides).
	Color bool
	// Width wraps long lines to this many columns; 0 does not wrap.
	Width int
}

// WriteText writes d for a person: the verdict line, the sysctls in play,
// then each finding worst first — a headline, its arithmetic indented
// below, what to do — and the busiest destinations and CLOSE_WAIT owners.
func (d Diagnosis) WriteText(w io.Writer, o TextOptions) error {
	ew := &errWriter{w: w}
	// Summaries, arithmetic and rule messages may quote names other
	// users chose (process names, units): each is escaped (Printable).
	ew.printf("%s\n", o.level(d.Level, Printable(d.Summary)))
	ew.printf("%s\n", wrap(fmt.Sprintf("%d sample(s) over %.1f s; %s", d.Window.Samples, d.Window.Seconds, statesLine(d)), o.Width, ""))
	ew.printf("%s\n", wrap("sysctls: "+SysctlsLine(d.Sysctls), o.Width, "  "))
	for _, r := range d.Degraded {
		ew.printf("%s\n", wrap("DEGRADED: "+Printable(r), o.Width, "  "))
	}
	if why := d.Events.Unavailable; why != "" {
		ew.printf("%s\n", wrap(Printable(why)+"; who opens connections comes from the sockets the samples saw", o.Width, "  "))
	}
	for _, v := range d.Verdicts {
		head := fmt.Sprintf("[%s] %s", mark(v.Level), v.Topic)
		if v.Rule != "" {
			head += " (rule " + v.Rule + ")"
		}
		ew.printf("\n%s\n", o.level(v.Level, head))
		ew.printf("%s\n", wrap("  "+Printable(v.Summary), o.Width, "  "))
		for _, m := range v.Math {
			ew.printf("%s\n", wrap("      "+Printable(m), o.Width, "        "))
		}
		if v.AppBug {
			ew.printf("  application bug: no sysctl fixes this\n")
		}
		if v.Action != "" {
			ew.printf("%s\n", wrap("  → "+Printable(v.Action), o.Width, "    "))
		}
	}
	if len(d.Destinations) > 1 {
		ew.printf("\nBusiest destinations (unavailable / usable, plateau):\n")
		for _, dst := range d.Destinations[:min(5, len(d.Destinations))] {
			ew.printf("  %-22s → %-28s %6d / %-6d %6s  plateau %s\n", dst.Local, dst.Remote, dst.PortsUnavailable, dst.PortsUsable, pct(dst.Utilization), pct(dst.PlateauUtilization))
		}
	}
	if owners := d.CloseWait.ByOwner; len(owners) > 0 {
		ew.printf("\nCLOSE_WAIT by owner:\n")
		for _, o := range owners[:min(5, len(owners))] {
			ew.printf("  %6d  pid %-7d %-16s %s\n", o.Count, o.PID, Printable(orUnknown(o.Command)), Printable(orUnknown(o.Unit)))
		}
	}
	return ew.err
}

// statesLine is the socket histogram in one line.
func statesLine(d Diagnosis) string {
	var names []string
	for _, s := range advisor.AllStates() {
		if n, ok := d.States[s.String()]; ok {
			names = append(names, fmt.Sprintf("%s %d", s, n))
		}
	}
	if len(names) == 0 {
		names = append(names, "no sockets")
	}
	line := "sockets: " + strings.Join(names, ", ")
	if !d.Window.StatesComplete {
		line += " (only TIME_WAIT from sockstat: the pre-check ruled exhaustion out, so the table was not dumped)"
	}
	return line
}

// SysctlsLine lists the sysctls that decide port use, with what their
// values mean.
func SysctlsLine(sc advisor.Sysctls) string {
	reuse := map[int]string{0: "off", 1: "on", 2: "loopback only"}[sc.Int(advisor.KeyTwReuse)]
	parts := []string{
		fmt.Sprintf("ip_local_port_range %s (%d ports)", sc.PortRange(), sc.PortRange().Size()),
	}
	if r := sc.ReservedPorts(); len(r) > 0 {
		parts = append(parts, "ip_local_reserved_ports "+r.String())
	}
	parts = append(parts,
		fmt.Sprintf("tcp_tw_reuse %d (%s)", sc.Int(advisor.KeyTwReuse), reuse),
		fmt.Sprintf("tcp_tw_reuse_delay %d ms", sc.Int(advisor.KeyTwReuseDelay)),
		fmt.Sprintf("tcp_timestamps %d", sc.Int(advisor.KeyTimestamps)),
		fmt.Sprintf("tcp_fin_timeout %d s", sc.Int(advisor.KeyFinTimeout)),
		fmt.Sprintf("tcp_max_tw_buckets %d", sc.Int(advisor.KeyMaxTwBuckets)))
	return strings.Join(parts, ", ")
}

var marks = map[advisor.Severity]string{advisor.SeverityOK: "ok", advisor.SeverityInfo: "info", advisor.SeverityWarning: "WARN", advisor.SeverityCritical: "CRIT"}

func mark(level advisor.Severity) string {
	if m, ok := marks[level]; ok {
		return m
	}
	return string(level)
}

var colors = map[advisor.Severity]string{advisor.SeverityOK: "\x1b[32m", advisor.SeverityInfo: "\x1b[36m", advisor.SeverityWarning: "\x1b[33m", advisor.SeverityCritical: "\x1b[1;31m"}

// level colours s by level when colour is on.
func (o TextOptions) level(level advisor.Severity, s string) string {
	if !o.Color || colors[level] == "" {
		return s
	}
	return colors[level] + s + "\x1b[0m"
}

// wrap breaks s into lines of at most width columns at spaces, indenting
// continuation lines; s keeps its own leading spaces, and width 0 or a line
// that fits leaves s alone.
func wrap(s string, width int, indent string) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	return textwrap.Fill(s, width, s[:len(s)-len(strings.TrimLeft(s, " "))], indent)
}

// errWriter keeps the first write error so rendering code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// Check is the diagnosis as a monitoring plugin reports it (the
// Nagios/Icinga/Sensu/Zabbix convention): one line, "TCP-ADVISOR LEVEL -
// summary | performance data", and the exit status: 0 OK (ok or info), 1
// WARNING, 2 CRITICAL. (3, UNKNOWN, is for a check that could not run.)
func (d Diagnosis) Check() (line string, status int) {
	word, status := "OK", 0
	switch d.Level {
	case advisor.SeverityWarning:
		word, status = "WARNING", 1
	case advisor.SeverityCritical:
		word, status = "CRITICAL", 2
	}
	_, summary, _ := strings.Cut(d.Summary, ": ")
	perf := []string{
		perfData("time_wait", float64(d.TimeWait.Count), "0", ""),
		perfData("close_wait", float64(d.CloseWait.Count), "0", ""),
		perfData("destinations", float64(d.Ports.DestinationCount), "0", ""),
		perfData("bind_utilization", d.Ports.BindUtilization, "0", "1"),
	}
	if w := d.Worst; w != nil {
		perf = append(perf,
			perfData("worst_utilization", w.Utilization, "0", "1"),
			perfData("worst_plateau_utilization", w.PlateauUtilization, "0", ""),
			perfData("worst_ports_unavailable", float64(w.PortsUnavailable), "0", fmt.Sprint(w.PortsUsable)))
	}
	if r := d.Connections.ActiveOpensPerSecond; r != nil {
		perf = append(perf, perfData("active_opens_per_second", *r, "0", ""))
	}
	for _, l := range advisor.Severities()[2:] {
		perf = append(perf, perfData(string(l)+"s", float64(d.Counts[l]), "0", ""))
	}
	// A plugin's output is one line: the summary may hold a process name.
	summary = strings.NewReplacer("|", "/", "\n", " ").Replace(summary)
	return fmt.Sprintf("TCP-ADVISOR %s - %s | %s", word, summary, strings.Join(perf, " ")), status
}

// perfData formats one performance datum, 'label'=value;warn;crit;min;max,
// without a unit of measure: every datum is a count, a rate or a ratio.
func perfData(label string, v float64, lo, hi string) string {
	return strings.TrimRight(fmt.Sprintf("'%s'=%s;;;%s;%s", label, strconv.FormatFloat(v, 'f', -1, 64), lo, hi), ";")
}
