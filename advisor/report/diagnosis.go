package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// Diagnosis is the output of `tcp-advisor diagnose`: the findings with their
// verdicts. Its JSON form is documented in README.md.
type Diagnosis struct {
	advisor.Findings
	Verdicts []Verdict `json:"verdicts"`
}

// NewDiagnosis explains findings.
func NewDiagnosis(f advisor.Findings) Diagnosis {
	return Diagnosis{Findings: f, Verdicts: Verdicts(f)}
}

// WriteJSON writes d as indented JSON.
func (d Diagnosis) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(d)
}

var levelMark = map[Level]string{OK: "ok", Info: "info", Warning: "WARN", Critical: "CRIT"}

// WriteText writes d for a person: the state histogram, then each verdict
// with its arithmetic and what to do.
func (d Diagnosis) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("tcp-advisor diagnosis: %d sample(s) over %.1fs\n\n", d.Samples, d.WindowSeconds)
	for _, r := range d.Degraded {
		ew.printf("DEGRADED: %s\n\n", r)
	}
	ew.printf("Socket states:")
	names := make([]string, 0, len(d.States))
	for _, s := range advisor.AllStates() {
		if n, ok := d.States[s.String()]; ok {
			names = append(names, fmt.Sprintf(" %s=%d", s, n))
		}
	}
	if len(names) == 0 {
		names = append(names, " none")
	}
	for _, n := range names {
		ew.printf("%s", n)
	}
	if !d.StatesComplete {
		ew.printf("  (bulk states not dumped: the pre-check ruled exhaustion out)")
	}
	ew.printf("\n")
	for _, v := range d.Verdicts {
		ew.printf("\n[%s] %s: %s\n", levelMark[v.Level], v.Topic, v.Summary)
		for _, m := range v.Math {
			ew.printf("      %s\n", m)
		}
		if v.AppBug {
			ew.printf("      application bug: no sysctl fixes this\n")
		}
		if v.Action != "" {
			ew.printf("   -> %s\n", v.Action)
		}
	}
	if len(d.Destinations) > 1 {
		ew.printf("\nBusiest destinations (ports in use / usable):\n")
		for _, dst := range d.Destinations[:min(5, len(d.Destinations))] {
			ew.printf("  %-22s -> %-28s %6d / %-6d %s\n", dst.Local, dst.Remote, dst.PortsInUse, dst.PortsUsable, pct(dst.Utilization))
		}
	}
	if owners := d.CloseWait.ByOwner; len(owners) > 0 {
		ew.printf("\nCLOSE_WAIT by owner:\n")
		for _, o := range owners[:min(5, len(owners))] {
			ew.printf("  %6d  pid %-7d %-16s %s\n", o.Count, o.PID, orUnknown(o.Command), orUnknown(o.Unit))
		}
	}
	return ew.err
}

// Worst returns the most severe level among the verdicts.
func (d Diagnosis) Worst() Level {
	order := []Level{OK, Info, Warning, Critical}
	worst := OK
	for _, v := range d.Verdicts {
		if slices.Index(order, v.Level) > slices.Index(order, worst) {
			worst = v.Level
		}
	}
	return worst
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
