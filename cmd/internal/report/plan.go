package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/advisor/textsafe"
	"github.com/tcp-advisor/tcp-advisor/advisor/textwrap"
	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// escLines escapes each line of a multi-line message and joins them with
// sep, so the message's own line breaks stay and nothing else breaks one.
func escLines(s, sep string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = textsafe.Escape(l)
	}
	return strings.Join(lines, sep)
}

// WritePlanJSON writes the plan as indented JSON.
func WritePlanJSON(w io.Writer, p remediate.Plan) error { return writeJSON(w, p) }

// writeJSON writes v as indented JSON, leaving <, > and & as they are.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// PlanSummary is the plan in one line: its level and what it holds.
func PlanSummary(p remediate.Plan) string {
	return fmt.Sprintf("%s: %d change(s) proposed, %d refused by guardrails, %d advice",
		strings.ToUpper(string(p.Level)), len(p.Changes), len(p.Refused), len(p.Advice))
}

// WritePlanText writes the plan as a reviewer reads a change: the verdict line,
// each sysctl with its current and proposed value, the rule (and where it is
// declared) and the reason; then the changes guardrails refused, with the
// guardrail, its bound and where it is declared; then the advice.
func WritePlanText(w io.Writer, p remediate.Plan, o TextOptions) error {
	var b strings.Builder
	b.WriteString(PlanSummary(p) + "\n")
	if len(p.Changes) > 0 {
		fmt.Fprintf(&b, "\nProposed sysctl changes (%d):\n", len(p.Changes))
		for _, g := range p.Groups() {
			if len(g) > 1 {
				fmt.Fprintf(&b, "\n  applied together, in this order:\n")
			}
			for _, c := range g {
				fmt.Fprintf(&b, "\n  %s\n      %q -> %q\n      rule %s (%s, %s)\n%s\n", c.Key, c.From, c.To, c.Rule, c.Severity, c.RuleSource,
					wrapIndented(c.Reason, o.Width, "      "))
				if c.Platform != "" {
					fmt.Fprintf(&b, "%s\n", wrapIndented("A value written into a container's namespace is lost when the container is recreated: "+c.Platform+".", o.Width, "      "))
				}
			}
		}
	}
	if len(p.Refused) > 0 {
		fmt.Fprintf(&b, "\nRefused by guardrails (%d):\n", len(p.Refused))
		for _, r := range p.Refused {
			fmt.Fprintf(&b, "\n  %s %q -> %q (rule %s, %s)\n      guardrail %s: %s (%s)\n%s\n", r.Key, r.From, r.To, r.Rule, r.Severity,
				r.Guardrail, r.Bound, r.Source, wrapIndented(r.Reason, o.Width, "      "))
		}
	}
	if len(p.Advice) > 0 {
		fmt.Fprintf(&b, "\nAdvice no sysctl carries out (%d):\n", len(p.Advice))
		for _, a := range p.Advice {
			fmt.Fprintf(&b, "\n  [%s] %s (%s):\n%s\n", a.Severity, a.Rule, a.RuleSource, wrapIndented(a.Message, o.Width, "      "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// wrapIndented indents text and wraps it to width (0: no wrapping).
// Each line is escaped first (textsafe): a message may quote a name another
// user chose.
func wrapIndented(text string, width int, indent string) string {
	text = escLines(text, "\n")
	if width <= 0 {
		return indent + strings.ReplaceAll(text, "\n", "\n"+indent)
	}
	paras := strings.Split(text, "\n")
	for i, para := range paras {
		paras[i] = textwrap.Fill(para, width, indent, indent)
	}
	return strings.Join(paras, "\n")
}
