// Package policies is tcp-advisor's policy language: HCL files with agent
// settings, guardrails per sysctl, file-scoped locals, and rules whose
// conditions read the observation (snapshot and findings) and whose actions
// propose sysctl values or only advise. Load parses and validates files on
// top of the embedded defaults without touching the kernel; Evaluate turns
// one observation into recommendations. Rules only propose: the guard in
// package remediate decides what may change. README.md documents the
// language.
package policies

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// Defaults of the agent block.
const (
	DefaultInterval    = 10 * time.Second
	DefaultPersistPath = "/etc/sysctl.d/90-tcp-advisor.conf"
	// PersistDir is where persist_path must lie: the directory
	// systemd-sysctl reads at boot.
	PersistDir = "/etc/sysctl.d"
)

// Settings are the agent block's settings, merged across files attribute
// by attribute: a later file's attribute overrides an earlier one's.
type Settings struct {
	Mode        advisor.Mode  // "dry-run" (default) | "enforce"
	Interval    time.Duration // default 10s
	Persist     bool          // default false: write applied values to a sysctl.d drop-in
	PersistPath string        // default "/etc/sysctl.d/90-tcp-advisor.conf"
	// EnforceNamespaces are globs naming the network namespaces an agent
	// watching every namespace (run --all-namespaces) may change: "host"
	// for the initial one, names given by `ip netns`, container ids and
	// Kubernetes pod UIDs. Default ["host"].
	EnforceNamespaces []string
	// Sources are where agent blocks were declared, in load order.
	Sources []hcl.Range
}

// DefaultSettings returns the settings used when no agent block sets them.
func DefaultSettings() Settings {
	return Settings{Mode: advisor.ModeDryRun, Interval: DefaultInterval, PersistPath: DefaultPersistPath, EnforceNamespaces: []string{"host"}}
}

// Guardrail bounds the changes to one sysctl. A policy guardrail only ever
// tightens the registry's bounds; guardrails for one key in several files
// merge, and the tighter bound of each kind wins.
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
	// LowFloor is the opt-in to lowering the port range's low end, and
	// how far: nil keeps low where it is, so widening only raises high.
	// Ports below the range may belong to services that are stopped or
	// restarting, and Kubernetes NodePorts have no listening socket.
	LowFloor *int64
	// Reserve lists the ports services will listen on, whether or not
	// anything listens on them yet (port range only). A change that
	// brings them into the range reserves them in the same change.
	// Guardrails for the key in several files contribute the union.
	Reserve advisor.PortSet
	// Sources are where guardrails for the key were declared; BoundSources
	// where the bound in force of each attribute ("min", "max_step", ...)
	// was declared.
	Sources      []hcl.Range
	BoundSources map[string]hcl.Range
}

// Source returns where the guardrail was first declared, or "built-in".
func (g Guardrail) Source() string {
	if len(g.Sources) == 0 {
		return "built-in"
	}
	return RangeString(g.Sources[0])
}

// SourceOf returns where the bound of attribute attr in force was
// declared: "built-in" when no policy set it.
func (g Guardrail) SourceOf(attr string) string {
	if r, ok := g.BoundSources[attr]; ok {
		return RangeString(r)
	}
	return "built-in"
}

// Change is one sysctl value a rule proposes.
type Change struct {
	Key   string
	Value string // normalized: single spaces, e.g. "40000 60999"
}

// Recommendation is one rule that fired.
type Recommendation struct {
	Rule     string           // rule label
	Topic    string           // what the rule is about; the rule's name unless it says
	Severity advisor.Severity // "info" | "warning" | "critical"
	Message  string           // rendered message and advice, joined
	Changes  []Change         // proposed values; empty for advice-only rules
	// Summary and Advice are the rendered message and advice attributes
	// that Message joins; either may be empty.
	Summary string
	Advice  string
	// Source is where the rule is declared.
	Source hcl.Range
}

// Set is a loaded, validated, layered set of policy files.
type Set struct {
	Settings   Settings
	Rules      []*Rule              // in evaluation order
	Guardrails map[string]Guardrail // by sysctl key, merged across files
	// Files are the files loaded, in order: the embedded defaults
	// (named "default/…") first unless an agent block turned them off.
	Files []string
	// Disabled are the rules an `enabled = false` turned off, with where.
	Disabled map[string]hcl.Range
	// sources are the files' names and contents, for Checksum.
	sources []source
}

// Rule is one rule block: a condition over the observation, a severity, a
// message and advice, and the sysctls it proposes.
type Rule struct {
	Name  string
	Topic string
	// Source is where the rule is declared: its `rule "name"` header.
	// Replaces, when set, is the declaration it replaced.
	Source   hcl.Range
	Replaces *hcl.Range
	// Keys are the sysctls the rule sets, in declaration order; empty for
	// an advice-only rule.
	Keys []string

	file     *file          // the file it came from, for its locals
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
// if it declares one, with unset bounds filled from the registry, so
// callers always see the effective Min and Max.
func (s *Set) Guardrail(key string) Guardrail {
	g, ok := s.Guardrails[key]
	if !ok {
		g = Guardrail{Key: key}
	}
	k, ok := builtInBounds(key, g.AllowPrivilegedLow)
	if !ok || k.Kind == advisor.KindPortList {
		return g
	}
	lo, hi := k.Min, k.Max
	if g.Min == nil {
		g.Min = &lo
	}
	if g.Max == nil {
		g.Max = &hi
	}
	return g
}

// builtInBounds returns the registry's entry for key with the bounds a
// policy may go to: for the port range under allow_privileged_low, down
// to port 1 instead of 1024.
func builtInBounds(key string, allowPrivilegedLow bool) (advisor.SysctlKey, bool) {
	k, ok := advisor.LookupSysctl(key)
	if ok && k.Kind == advisor.KindPortRange && allowPrivilegedLow {
		k.Min = 1
	}
	return k, ok
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
	return fmt.Sprintf("%d file(s), %d rule(s) (%d advice-only, %d disabled), %d guardrail(s), mode %s, interval %s",
		len(s.Files), len(s.Rules), advice, len(s.Disabled), len(s.Guardrails), s.Settings.Mode, s.Settings.Interval)
}

// RangeString formats a range's start as file:line:column, or the file
// alone for a range without a position.
func RangeString(r hcl.Range) string {
	if r.Start.Line == 0 {
		return r.Filename
	}
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
