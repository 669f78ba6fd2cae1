package remediate

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/internal/textsafe"
)

// esc escapes text that may hold names other users chose (a rule's message
// can quote a process name): see textsafe.
func esc(s string) string { return textsafe.Escape(s) }

// escLines escapes each line of a multi-line message and joins them with
// sep, so the message's own line breaks stay and nothing else breaks one.
func escLines(s, sep string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = textsafe.Escape(l)
	}
	return strings.Join(lines, sep)
}

// WriteJSON writes the plan as indented JSON.
func (p Plan) WriteJSON(w io.Writer) error { return writeJSON(w, p) }

// writeJSON writes v as indented JSON, leaving <, > and & as they are.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// WriteText writes the plan as a reviewer reads a change: each sysctl with
// its current and proposed value, the rule and the reason, then the advice
// and the changes guardrails refused.
func (p Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	if len(p.Changes) == 0 {
		b.WriteString("No sysctl changes proposed.\n")
	} else {
		fmt.Fprintf(&b, "Proposed sysctl changes (%d):\n", len(p.Changes))
		for _, g := range p.Groups() {
			if len(g) > 1 {
				fmt.Fprintf(&b, "\n  applied together, in this order:\n")
			}
			for _, c := range g {
				fmt.Fprintf(&b, "\n  %s\n      %q -> %q\n      rule %s (%s): %s\n", c.Key, c.From, c.To, esc(c.Rule), esc(c.Severity), esc(c.Reason))
			}
		}
	}
	if len(p.Advice) > 0 {
		fmt.Fprintf(&b, "\nAdvice no sysctl carries out (%d):\n", len(p.Advice))
		for _, a := range p.Advice {
			fmt.Fprintf(&b, "\n  [%s] %s:\n      %s\n", esc(a.Severity), esc(a.Rule), escLines(a.Message, "\n      "))
		}
	}
	if len(p.Refused) > 0 {
		fmt.Fprintf(&b, "\nRefused by guardrails (%d):\n", len(p.Refused))
		for _, r := range p.Refused {
			fmt.Fprintf(&b, "\n  %s %q -> %q (rule %s)\n      guardrail %s: %s\n", r.Key, r.From, r.To, esc(r.Rule), r.Guardrail, esc(r.Reason))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
