package remediate

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// Change is one sysctl write of a plan.
type Change struct {
	Key      string           `json:"key"`
	From     string           `json:"from"`
	To       string           `json:"to"`
	Rule     string           `json:"rule"`
	Severity advisor.Severity `json:"severity"`
	// RuleSource is where the rule is declared, file:line:column.
	RuleSource string `json:"rule_source"`
	Reason     string `json:"reason"`
	// Group ties changes that must apply together or not at all, in
	// order: a widened port range and the reserved ports it needs.
	Group int `json:"group"`
	// Platform says how to keep the change in the definition of the
	// container or pod whose namespace it is for (PlatformTerms).
	Platform string `json:"platform,omitempty"`
}

// Advice is a recommendation no sysctl carries out: an advice-only rule, or
// a rule whose values the host already has.
type Advice struct {
	Rule       string           `json:"rule"`
	Severity   advisor.Severity `json:"severity"`
	RuleSource string           `json:"rule_source"`
	Message    string           `json:"message"`
}

// Plan is what tcp-advisor proposes for one observation: every rule that
// fired ends up in exactly one of Changes, Refused or Advice (a rule with
// several values may appear in both Changes and Refused).
type Plan struct {
	Time time.Time `json:"time"`
	// Level is the worst severity of the rules that fired, "ok" when none
	// did; Counts counts those rules by severity.
	Level   advisor.Severity         `json:"level"`
	Counts  map[advisor.Severity]int `json:"counts"`
	Changes []Change                 `json:"changes"`
	Refused []Refusal                `json:"refused"`
	Advice  []Advice                 `json:"advice"`
}

// Actionable reports whether the plan asks something of someone: changes
// to apply, or a critical recommendation (refused or advice) that a person
// must act on.
func (p Plan) Actionable() bool {
	if len(p.Changes) > 0 {
		return true
	}
	for _, r := range p.Refused {
		if r.Severity == advisor.SeverityCritical {
			return true
		}
	}
	for _, a := range p.Advice {
		if a.Severity == advisor.SeverityCritical {
			return true
		}
	}
	return false
}

// Groups returns the changes grouped as they must be applied.
func (p Plan) Groups() [][]Change {
	var out [][]Change
	for _, c := range p.Changes {
		if n := len(out); n > 0 && out[n-1][0].Group == c.Group {
			out[n-1] = append(out[n-1], c)
			continue
		}
		out = append(out, []Change{c})
	}
	return out
}

// Planner builds plans: rules propose, and the guard decides each value
// against the live values in the snapshot and what the state store
// remembers (cooldowns, hysteresis, released keys).
type Planner struct {
	Set   *policies.Set
	State *State // may be nil: no cooldowns or history
	Now   time.Time
}

// Build turns recommendations into a plan for snap.
func (p Planner) Build(snap advisor.Snapshot, recs []policies.Recommendation) Plan {
	plan := Plan{Time: p.Now, Level: advisor.SeverityOK, Counts: map[advisor.Severity]int{},
		Changes: []Change{}, Advice: []Advice{}, Refused: []Refusal{}}
	claimed := map[string]string{} // key → rule that first set it
	// live keeps the observed values; sim is what each group leaves, so
	// invariants between keys are checked against the groups before.
	live, sim := snap.Sysctls, snap
	group := 0
	for _, rec := range recs {
		plan.Counts[rec.Severity]++
		if advisor.Severity(rec.Severity).Rank() > advisor.Severity(plan.Level).Rank() {
			plan.Level = rec.Severity
		}
		source := policies.RangeString(rec.Source)
		var already []string
		acted := false
		for _, pc := range rec.Changes {
			to := advisor.NormalizeValue(pc.Value)
			from, present := live.Value(pc.Key)
			c := Change{Key: pc.Key, From: from, To: to, Rule: rec.Rule, Severity: rec.Severity, RuleSource: source, Reason: rec.Message}
			if present && from == to {
				already = append(already, fmt.Sprintf("%s is already %q", pc.Key, to))
				continue
			}
			acted = true
			if !present {
				plan.Refused = append(plan.Refused, *refusal(c, GuardKeyPresent, "key present", "built-in",
					"%s cannot be read here (absent from this kernel, or global and hidden in this network namespace)", pc.Key))
				continue
			}
			if first, ok := claimed[pc.Key]; ok {
				plan.Refused = append(plan.Refused, *refusal(c, GuardOneRule, "one rule per key", "built-in",
					"rule %q, earlier in evaluation order, already changes %s in this plan", first, pc.Key))
				continue
			}
			changes := []Change{c}
			if pc.Key == advisor.KeyPortRange {
				var r *Refusal
				if changes, r = p.withReservations(c, sim); r != nil {
					plan.Refused = append(plan.Refused, *r)
					continue
				}
			}
			if r := p.checkGroup(changes, sim); r != nil {
				plan.Refused = append(plan.Refused, *r)
				continue
			}
			group++
			for _, ch := range changes {
				ch.Group = group
				claimed[ch.Key] = rec.Rule
				plan.Changes = append(plan.Changes, ch)
				sim.Sysctls = sim.Sysctls.With(ch.Key, ch.To)
			}
		}
		if !acted {
			msg := rec.Message
			if len(already) > 0 {
				msg += " (" + strings.Join(already, "; ") + ": nothing to change)"
			}
			plan.Advice = append(plan.Advice, Advice{Rule: rec.Rule, Severity: rec.Severity, RuleSource: source, Message: msg})
		}
	}
	return plan
}

// numeric orders a value for hysteresis and steps: an integer as itself, a
// port range by its size, a port list by its port count.
func numeric(key, v string) (int64, bool) {
	switch key {
	case advisor.KeyPortRange:
		r, err := advisor.ParsePortRange(v)
		return int64(r.Size()), err == nil
	case advisor.KeyReservedPorts:
		s, err := advisor.ParsePortSet(v)
		if err != nil {
			return 0, false
		}
		return int64(s.CountIn(advisor.PortRange{Low: 0, High: 65535})), true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}
