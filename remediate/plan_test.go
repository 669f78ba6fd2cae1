package remediate

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

const rangePolicy = `
guardrail "net.ipv4.ip_local_port_range" {
  min      = 20000
  max      = 60999
  max_step = 10000
  cooldown = "5m"
}
guardrail "net.ipv4.tcp_fin_timeout" {
  min      = 15
  max_step = 30
}
guardrail "net.ipv4.tcp_tw_reuse" {
  allowed = [1, 2]
}
`

func TestGuardrails(t *testing.T) {
	set := policySet(t, rangePolicy)
	lowering := policySet(t, rangePolicy+`guardrail "net.ipv4.ip_local_port_range" {
  low_floor = 35000
}`)
	tests := []struct {
		name      string
		set       *policies.Set
		key, to   string
		guardrail string // "" means accepted, "-" no change at all
		bound     string
	}{
		{"raise high within bounds", set, advisor.KeyPortRange, "40000 45999", "", ""},
		{"no-op", set, advisor.KeyPortRange, "40000 40999", "-", ""},
		// The low end stays unless the guardrail opts in.
		{"low end moves without low_floor", set, advisor.KeyPortRange, "35000 40999", GuardLowEnd, "low 40000 (no low_floor)"},
		{"low end down to low_floor", lowering, advisor.KeyPortRange, "35000 40999", "", ""},
		{"low end below low_floor", lowering, advisor.KeyPortRange, "34999 40999", GuardLowEnd, "low_floor 35000"},
		{"high over policy max", set, advisor.KeyPortRange, "40000 61000", GuardMax, "max 60999"},
		{"over max step", set, advisor.KeyPortRange, "40000 51000", GuardMaxStep, "max_step 10000"},
		{"shrink refused", set, advisor.KeyPortRange, "40100 40999", GuardNeverShrink, "contains 40000 40999"},
		{"low >= high", set, advisor.KeyPortRange, "40999 40000", GuardBuiltin, "low >= 1024 (>= 1 with allow_privileged_low), high <= 65535, low < high"},
		{"high over 65535", set, advisor.KeyPortRange, "40000 70000", GuardBuiltin, ""},
		{"privileged low", set, advisor.KeyPortRange, "1000 40999", GuardBuiltin, ""},
		{"tcp_tw_recycle", set, "net.ipv4.tcp_tw_recycle", "1", GuardAllowList, "settable keys"},
		{"key outside allow-list", set, "kernel.panic", "1", GuardAllowList, ""},
		{"tcp_timestamps is read only", set, advisor.KeyTimestamps, "0", GuardAllowList, ""},
		{"tw_reuse allowed", set, advisor.KeyTwReuse, "1", "", ""},
		{"tw_reuse value not allowed by policy", set, advisor.KeyTwReuse, "0", GuardAllowed, "allowed 1, 2"},
		{"tw_reuse value out of kernel range", set, advisor.KeyTwReuse, "3", GuardBuiltin, "0 to 2"},
		{"fin_timeout within step", set, advisor.KeyFinTimeout, "30", "", ""},
		{"fin_timeout under min", set, advisor.KeyFinTimeout, "10", GuardMin, "min 15"},
		{"somaxconn not an integer", set, advisor.KeySomaxconn, "lots", GuardBuiltin, ""},
		{"key this namespace lacks", set, advisor.KeyMaxOrphans, "4096", GuardKeyPresent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := snapshot("40000 40999", "")
			snap.Sysctls = snap.Sysctls.With("net.ipv4.tcp_tw_recycle", "0").With("kernel.panic", "0").
				With(advisor.KeyTwReuse, "2").With(advisor.KeyTimestamps, "1")
			plan := Planner{Set: tt.set, Now: t0}.Build(snap, []policies.Recommendation{rec("r", tt.key, tt.to)})
			switch {
			case tt.guardrail == "-":
				if len(plan.Changes)+len(plan.Refused) != 0 || len(plan.Advice) != 1 || !strings.Contains(plan.Advice[0].Message, "already") {
					t.Errorf("no-op produced %+v", plan)
				}
			case tt.guardrail == "":
				if len(plan.Changes) != 1 || plan.Changes[0].To != tt.to {
					t.Errorf("want accepted, got changes %+v refused %+v", plan.Changes, plan.Refused)
				}
			default:
				if len(plan.Refused) != 1 || plan.Refused[0].Guardrail != tt.guardrail {
					t.Fatalf("want refused by %s, got changes %+v refused %+v", tt.guardrail, plan.Changes, plan.Refused)
				}
				r := plan.Refused[0]
				if tt.bound != "" && r.Bound != tt.bound {
					t.Errorf("bound %q, want %q", r.Bound, tt.bound)
				}
				if r.Source == "" || r.Reason == "" || len(plan.Advice) != 0 {
					t.Errorf("refusal without source or reason, or listed as advice too: %+v", plan)
				}
			}
		})
	}
}

// TestRefusalNamesThePolicyFile: a refusal by a policy guardrail says where
// the guardrail is declared.
func TestRefusalNamesThePolicyFile(t *testing.T) {
	set := policySet(t, rangePolicy)
	plan := Planner{Set: set, Now: t0}.Build(snapshot("40000 40999", ""), []policies.Recommendation{rec("r", advisor.KeyPortRange, "40000 61000")})
	// The default layer declares the guardrail too; the bound that refused
	// is this file's.
	if len(plan.Refused) != 1 || !strings.HasSuffix(plan.Refused[0].Source, "p.hcl:2:1") {
		t.Errorf("refused %+v", plan.Refused)
	}
	if plan.Level != advisor.SeverityWarning || plan.Counts[advisor.SeverityWarning] != 1 || plan.Actionable() {
		t.Errorf("level %s counts %v actionable %v", plan.Level, plan.Counts, plan.Actionable())
	}
}

func TestPlannerReservesServicePorts(t *testing.T) {
	set := policySet(t, rangePolicy)
	// Raising high to 45999 brings 41000-45999 into the range: the TCP
	// listeners on 41500 and 43000 and the UDP socket on 44000 there are
	// reserved; 40500 (inside the old range, perhaps an automatic choice),
	// 8080 (outside) and 42000 (already reserved) are not.
	snap := snapshot("40000 40999", "42000", 8080, 40500, 41500, 43000)
	snap.Sockets.UDPPorts = advisor.PortSet{}.Add(53, 40700, 44000)
	plan := Planner{Set: set, Now: t0}.Build(snap, []policies.Recommendation{rec("widen", advisor.KeyPortRange, "40000 45999")})
	if len(plan.Changes) != 2 || len(plan.Refused) != 0 {
		t.Fatalf("changes %+v refused %+v", plan.Changes, plan.Refused)
	}
	res, rng := plan.Changes[0], plan.Changes[1]
	if res.Key != advisor.KeyReservedPorts || res.From != "42000" || res.To != "41500,42000,43000,44000" {
		t.Errorf("reservation = %+v", res)
	}
	if rng.Key != advisor.KeyPortRange || rng.Group != res.Group || len(plan.Groups()) != 1 {
		t.Errorf("range change %+v not grouped after the reservation", rng)
	}
}

func TestPlannerNeedsTheSocketDump(t *testing.T) {
	set := policySet(t, rangePolicy)
	snap := snapshot("40000 40999", "")
	snap.Sockets = nil
	plan := Planner{Set: set, Now: t0}.Build(snap, []policies.Recommendation{rec("widen", advisor.KeyPortRange, "40000 45999")})
	if len(plan.Refused) != 1 || plan.Refused[0].Guardrail != GuardServicePorts {
		t.Errorf("want refusal for unknown service ports, got %+v", plan)
	}
}

func TestPlannerUnprivilegedPortStart(t *testing.T) {
	set := policySet(t, `agent {
  defaults = false
}
guardrail "net.ipv4.ip_local_port_range" {
  allow_privileged_low = true
  low_floor            = 1
}`)
	snap := snapshot("40000 40999", "")
	snap.Sysctls = snap.Sysctls.With(advisor.KeyUnprivilegedPortStart, "2048")
	plan := Planner{Set: set, Now: t0}.Build(snap, []policies.Recommendation{rec("widen", advisor.KeyPortRange, "1500 40999")})
	if len(plan.Refused) != 1 || plan.Refused[0].Guardrail != GuardUnprivileged {
		t.Errorf("want refusal below ip_unprivileged_port_start, got %+v", plan)
	}
}

func TestPlannerStateGuardrails(t *testing.T) {
	set := policySet(t, rangePolicy)
	managed := func(m ManagedKey) *State {
		return &State{Managed: map[string]*ManagedKey{advisor.KeyPortRange: &m}}
	}
	tests := []struct {
		name      string
		state     *State
		now       time.Time
		to        string
		guardrail string
	}{
		{"within cooldown", managed(ManagedKey{LastChange: t0.Add(-time.Minute), Direction: 1}), t0, "40000 45999", GuardCooldown},
		{"after cooldown", managed(ManagedKey{LastChange: t0.Add(-10 * time.Minute), Direction: 1}), t0, "40000 45999", ""},
		{"released key", managed(ManagedKey{Released: true, ReleasedAt: t0}), t0, "40000 45999", GuardReleased},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Planner{Set: set, State: tt.state, Now: tt.now}.Build(snapshot("40000 40999", ""), []policies.Recommendation{rec("widen", advisor.KeyPortRange, tt.to)})
			if tt.guardrail == "" {
				if len(plan.Changes) != 1 {
					t.Errorf("want accepted, got %+v", plan.Refused)
				}
				return
			}
			if len(plan.Refused) != 1 || plan.Refused[0].Guardrail != tt.guardrail {
				t.Errorf("want %s, got changes %+v refused %+v", tt.guardrail, plan.Changes, plan.Refused)
			}
		})
	}
}

func TestPlannerHysteresis(t *testing.T) {
	set := policySet(t, rangePolicy)
	st := &State{Managed: map[string]*ManagedKey{advisor.KeyFinTimeout: {Original: "60", LastWritten: "30", LastChange: t0.Add(-time.Hour), Direction: -1}}}
	snap := snapshot("40000 40999", "")
	snap.Sysctls = snap.Sysctls.With(advisor.KeyFinTimeout, "30")
	up := Planner{Set: set, State: st, Now: t0}.Build(snap, []policies.Recommendation{rec("r", advisor.KeyFinTimeout, "45")})
	if len(up.Refused) != 1 || up.Refused[0].Guardrail != GuardHysteresis {
		t.Errorf("raising after a lowering: %+v", up)
	}
	down := Planner{Set: set, State: st, Now: t0}.Build(snap, []policies.Recommendation{rec("r", advisor.KeyFinTimeout, "20")})
	if len(down.Changes) != 1 {
		t.Errorf("lowering further: %+v", down)
	}
}

func TestPlannerAdviceAndConflicts(t *testing.T) {
	set := policySet(t, rangePolicy)
	recs := []policies.Recommendation{
		{Rule: "leak", Severity: "critical", Message: "api.service leaks"},
		rec("first", advisor.KeyFinTimeout, "30"),
		rec("second", advisor.KeyFinTimeout, "40"),
	}
	plan := Planner{Set: set, Now: t0}.Build(snapshot("40000 40999", ""), recs)
	if len(plan.Advice) != 1 || plan.Advice[0].Rule != "leak" {
		t.Errorf("advice = %+v", plan.Advice)
	}
	if len(plan.Changes) != 1 || plan.Changes[0].Rule != "first" || plan.Changes[0].From != "60" {
		t.Errorf("changes = %+v", plan.Changes)
	}
	if len(plan.Refused) != 1 || plan.Refused[0].Rule != "second" || plan.Refused[0].Guardrail != GuardOneRule {
		t.Errorf("refused = %+v", plan.Refused)
	}
	// Critical advice is something to act on.
	if plan.Level != advisor.SeverityCritical || !plan.Actionable() {
		t.Errorf("level %s actionable %v", plan.Level, plan.Actionable())
	}
	adviceOnly := Planner{Set: set, Now: t0}.Build(snapshot("40000 40999", ""), recs[:1])
	if !adviceOnly.Actionable() {
		t.Error("critical advice alone is not actionable")
	}
}

// TestPlannerChecksInvariantsAcrossGroups: a rule that reserves ports and a
// later rule that widens the range are checked against each other.
func TestPlannerChecksInvariantsAcrossGroups(t *testing.T) {
	set := policySet(t, rangePolicy)
	snap := snapshot("40000 40999", "", 43000)
	recs := []policies.Recommendation{
		rec("reserve", advisor.KeyReservedPorts, "43000"),
		rec("widen", advisor.KeyPortRange, "40000 45999"),
	}
	plan := Planner{Set: set, Now: t0}.Build(snap, recs)
	// The reservation is already planned, so the widening needs no second
	// reservation change and passes the service-port invariant.
	if len(plan.Changes) != 2 || plan.Changes[0].Key != advisor.KeyReservedPorts || plan.Changes[1].Key != advisor.KeyPortRange || len(plan.Refused) != 0 {
		t.Errorf("changes %+v refused %+v", plan.Changes, plan.Refused)
	}
	if v, _ := snap.Sysctls.Value(advisor.KeyReservedPorts); v != "" {
		t.Error("Build changed the caller's snapshot")
	}
}

// TestPlannerReservesPolicyPorts: ports and ranges the policy says services
// will listen on are reserved wherever they fall in the new range.
func TestPlannerReservesPolicyPorts(t *testing.T) {
	set := policySet(t, `guardrail "net.ipv4.ip_local_port_range" {
  reserve = [41000, 50000, 39000, "44000-44009"]
}`)
	snap := snapshot("40000 40999", "", 41500)
	plan := Planner{Set: set, Now: t0}.Build(snap, []policies.Recommendation{rec("widen", advisor.KeyPortRange, "40000 45999")})
	if len(plan.Changes) != 2 || plan.Changes[0].To != "41000,41500,44000-44009" {
		t.Errorf("changes %+v refused %+v", plan.Changes, plan.Refused)
	}
}

// TestRefusalJSON: a refusal carries its change's fields flat, and its
// reason is the guardrail's, not the rule's.
func TestRefusalJSON(t *testing.T) {
	c := Change{Key: advisor.KeyFinTimeout, From: "60", To: "5", Rule: "fin", Severity: advisor.SeverityWarning,
		RuleSource: "p.hcl:1:1", Reason: "the rule's reason", Group: 2}
	b, err := json.Marshal(refusal(c, GuardMin, "min 10", "p.hcl:9:1", "5 is below %d", 10))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"key": advisor.KeyFinTimeout, "from": "60", "to": "5", "rule": "fin", "severity": "warning",
		"rule_source": "p.hcl:1:1", "group": 2.0, "guardrail": GuardMin, "bound": "min 10", "guardrail_source": "p.hcl:9:1",
		"reason": "5 is below 10"}
	if !maps.Equal(got, want) {
		t.Errorf("refusal JSON %s, want %v", b, want)
	}
}
