package advisor

import "slices"

// Severity grades a finding or a recommendation. Every report of
// tcp-advisor grades with these: rules grade info, warning or critical;
// SeverityOK is what no rule fired on.
type Severity string

// Severity values, mildest first.
const (
	SeverityOK       Severity = "ok"
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Severities returns every severity, mildest first.
func Severities() []Severity {
	return []Severity{SeverityOK, SeverityInfo, SeverityWarning, SeverityCritical}
}

// Rank orders severities: ok 0, info 1, warning 2, critical 3; -1 for
// anything else.
func (s Severity) Rank() int { return slices.Index(Severities(), s) }

// Mode is how the agent acts on a plan.
type Mode string

// Mode values.
const (
	// ModeDryRun reports the plan and writes nothing.
	ModeDryRun Mode = "dry-run"
	// ModeEnforce writes changes within guardrails.
	ModeEnforce Mode = "enforce"
)
