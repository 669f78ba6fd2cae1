package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/policies/judge"
)

// Section is one namespace of --all-namespaces JSON output.
type Section struct {
	Netns     *netns.Namespace `json:"netns"`
	Precheck  *PrecheckSection `json:"precheck,omitempty"`
	Diagnosis any              `json:"diagnosis,omitempty"`
	Plan      any              `json:"plan,omitempty"`
	Error     string           `json:"error,omitempty"`
}

// PrecheckSection is whether a namespace's sockets were dumped and why:
// "dumped" and "summary" ("dumped: no — 12 sockets hold ports of 28232
// usable"), then the pre-check's figures.
type PrecheckSection struct {
	Dumped  bool   `json:"dumped"`
	Summary string `json:"summary"`
	advisor.Precheck
}

// PrecheckOf is the section of the judgement's last sample; nil when
// nothing decided.
func PrecheckOf(j judge.Judgement) *PrecheckSection {
	p := j.Last.Precheck
	if p == nil {
		return nil
	}
	return &PrecheckSection{Dumped: p.Dumped(), Summary: p.String(), Precheck: *p}
}

// DumpedLine says how many of the namespaces were dumped per socket.
func DumpedLine(sections []Section) string {
	var dumped []string
	for _, s := range sections {
		if s.Precheck != nil && s.Precheck.Dumped {
			dumped = append(dumped, s.Netns.String())
		}
	}
	line := fmt.Sprintf("sockets dumped in %d of %d namespace(s)", len(dumped), len(sections))
	if len(dumped) > 0 {
		line += ": " + JoinNames(dumped)
	}
	return line
}

// WriteSectionsJSON writes {"namespaces": [...]}.
func WriteSectionsJSON(w io.Writer, sections []Section) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(map[string]any{"namespaces": sections})
}

// SectionHeader introduces one namespace in text output: what it is and who
// holds it.
func SectionHeader(n *netns.Namespace) string {
	var b strings.Builder
	fmt.Fprintf(&b, "=== network namespace %s (net:[%d])", n, n.Inode)
	if n.Container != nil {
		fmt.Fprintf(&b, ", container %s", n.Container)
	}
	if len(n.Processes) > 0 {
		var ps []string
		for _, p := range n.Processes[:min(3, len(n.Processes))] {
			s := fmt.Sprintf("%s %d", p.Command, p.PID)
			if p.Unit != "" {
				s += " " + p.Unit
			}
			ps = append(ps, s)
		}
		more := ""
		if n.ProcessCount > len(ps) {
			more = fmt.Sprintf(", %d processes in all", n.ProcessCount)
		}
		fmt.Fprintf(&b, ", held by %s%s", strings.Join(ps, ", "), more)
	}
	return b.String() + "\n"
}

// JoinNames lists names separated by commas, the first ten and how many
// more.
func JoinNames(names []string) string {
	if len(names) > 10 {
		return fmt.Sprintf("%s and %d more", JoinNames(names[:10]), len(names)-10)
	}
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}
