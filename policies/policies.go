// Package policies is tcp-advisor's policy language: HCL files with agent
// settings, guardrails per sysctl and rules whose conditions read the
// observation (snapshot and findings) and whose actions set sysctls or only
// advise. Load parses and validates files without touching the kernel;
// Evaluate turns one observation into recommendations. Default returns the
// policies embedded in the binary. README.md documents the language.
package policies

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Mode values.
const (
	// ModeDryRun reports the plan and writes nothing.
	ModeDryRun = "dry-run"
	// ModeEnforce writes changes within guardrails.
	ModeEnforce = "enforce"
)

// Severity values.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Defaults of the agent block.
const (
	DefaultInterval    = 10 * time.Second
	DefaultPersistPath = "/etc/sysctl.d/90-tcp-advisor.conf"
)

// Settings are the agent block's settings.
type Settings struct {
	Mode        string        // "dry-run" (default) | "enforce"
	Interval    time.Duration // default 10s
	Persist     bool          // default false: write applied values to a sysctl.d drop-in
	PersistPath string        // default "/etc/sysctl.d/90-tcp-advisor.conf"
	// Range is where the agent block was declared; zero when defaulted.
	Range hcl.Range
}

// DefaultSettings returns the settings used when no agent block is given.
func DefaultSettings() Settings {
	return Settings{Mode: ModeDryRun, Interval: DefaultInterval, PersistPath: DefaultPersistPath}
}

// Guardrail bounds the changes to one sysctl. It only ever tightens the
// built-in guardrails (see CheckValue).
type Guardrail struct {
	Key string
	// Min and Max are integer bounds; for net.ipv4.ip_local_port_range
	// they bound low (Min) and high (Max).
	Min, Max *int64
	// Allowed lists the allowed values (normalized "a b" form); empty
	// allows any value.
	Allowed []string
	// MaxStep is the largest change per apply; for the port range, the
	// ports added to the range size per change.
	MaxStep *int64
	// Cooldown is the minimum time between two changes of this key.
	Cooldown time.Duration
	// AllowPrivilegedLow lets a port range's low go below 1024 (it must
	// still be >= ip_unprivileged_port_start). Port range only.
	AllowPrivilegedLow bool
	// Reserve lists the ports services will listen on, whether or not
	// anything listens on them yet (port range only; the reserve
	// attribute). A widened range must add those inside it to
	// ip_local_reserved_ports in the same change, as it does for listening
	// ports (DESIGN §3.5), or an outgoing connection could take the port
	// before the service starts. Sorted and unique; guardrails for the
	// key in several files contribute the union of their lists.
	Reserve []int
	// Range is where the guardrail was first declared.
	Range hcl.Range
}

// Change is one sysctl write a rule proposes.
type Change struct {
	Key   string
	Value string // normalized: single spaces, e.g. "40000 60999"
}

// Recommendation is one rule that fired.
type Recommendation struct {
	Rule     string   // rule label
	Severity string   // "info" | "warning" | "critical"
	Message  string   // rendered message and advice (templates interpolated with the numbers)
	Changes  []Change // empty for advice-only rules
	Range    hcl.Range
	// Summary and Advice are the rendered message and advice attributes
	// that Message joins; either may be empty.
	Summary string
	Advice  string
}

// Set is a loaded, validated set of policy files.
type Set struct {
	Settings   Settings
	Rules      []*Rule              // in load order
	Guardrails map[string]Guardrail // by sysctl key, merged across files
	Files      []string             // files loaded, in order
	checksum   string               // see Checksum
}

// Rule is one rule block: a condition over the observation, a severity, a
// message and advice, and the sysctls it sets.
type Rule struct {
	Name  string
	Range hcl.Range // where the rule is declared: its `rule "name"` header
	// Keys are the sysctls the rule sets, in declaration order; empty for
	// an advice-only rule.
	Keys []string

	severity hcl.Expression // nil: warning
	when     hcl.Expression
	message  hcl.Expression // nil when absent
	advice   hcl.Expression // nil when absent
	sets     []setAction
}

// setAction is one set block of a rule.
type setAction struct {
	key   string
	value hcl.Expression
	rng   hcl.Range // the block's label
}

// Guardrail returns the guardrail in force for key: the policy's guardrail
// if it declares one, with unset bounds filled from the built-in guardrail,
// so callers always see the effective Min and Max.
func (s *Set) Guardrail(key string) Guardrail {
	g, ok := s.Guardrails[key]
	if !ok {
		g = Guardrail{Key: key}
	}
	b, ok := builtins[key]
	if !ok || b.kind == kindPortList {
		return g
	}
	lo, hi := b.min, b.max
	if b.kind == kindPortRange && g.AllowPrivilegedLow {
		lo = 1
	}
	if g.Min == nil {
		g.Min = &lo
	}
	if g.Max == nil {
		g.Max = &hi
	}
	return g
}

// Describe summarizes the set in one line, what `tcp-advisor validate` says
// about a valid set.
func (s *Set) Describe() string {
	advice := 0
	for _, r := range s.Rules {
		if len(r.Keys) == 0 {
			advice++
		}
	}
	return fmt.Sprintf("%d file(s), %d rule(s) (%d advice-only), %d guardrail(s), mode %s, interval %s",
		len(s.Files), len(s.Rules), advice, len(s.Guardrails), s.Settings.Mode, s.Settings.Interval)
}
