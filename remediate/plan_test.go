package remediate

import (
	"testing"
	"time"

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

func TestPlannerGuardrails(t *testing.T) {
	set := policySet(t, rangePolicy)
	tests := []struct {
		name      string
		key, to   string
		guardrail string // "" means accepted
	}{
		{"widen within bounds", KeyPortRange, "35000 40999", ""},
		{"no-op skipped", KeyPortRange, "40000 40999", "-"},
		{"low under policy min", KeyPortRange, "19999 40999", GuardPolicyMin},
		{"high over policy max", KeyPortRange, "40000 61000", GuardPolicyMax},
		{"over max step", KeyPortRange, "25000 40999", GuardPolicyStep},
		{"shrink refused", KeyPortRange, "40100 40999", GuardNeverShrink},
		{"low >= high", KeyPortRange, "40999 40000", GuardBuiltin},
		{"high over 65535", KeyPortRange, "40000 70000", GuardBuiltin},
		{"privileged low", KeyPortRange, "1000 40999", GuardBuiltin},
		{"tcp_tw_recycle", "net.ipv4.tcp_tw_recycle", "1", GuardBuiltin},
		{"key outside allow-list", "kernel.panic", "1", GuardBuiltin},
		{"tw_reuse allowed", "net.ipv4.tcp_tw_reuse", "1", ""},
		{"tw_reuse value not allowed by policy", "net.ipv4.tcp_tw_reuse", "0", GuardPolicyAllowed},
		{"tw_reuse value out of kernel range", "net.ipv4.tcp_tw_reuse", "3", GuardBuiltin},
		{"fin_timeout within step", "net.ipv4.tcp_fin_timeout", "30", ""},
		{"fin_timeout under min", "net.ipv4.tcp_fin_timeout", "10", GuardPolicyMin},
		{"somaxconn not an integer", "net.core.somaxconn", "lots", GuardBuiltin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := snapshot("40000 40999", "")
			snap.Sysctls.Raw["net.ipv4.tcp_tw_recycle"] = "0"
			snap.Sysctls.Raw["kernel.panic"] = "0"
			snap.Sysctls.Raw["net.ipv4.tcp_tw_reuse"] = "2"
			plan := Planner{Set: set, Now: t0}.Build(snap, []policies.Recommendation{rec("r", tt.key, tt.to)})
			switch {
			case tt.guardrail == "-":
				if len(plan.Changes)+len(plan.Refused) != 0 {
					t.Errorf("no-op produced %+v", plan)
				}
			case tt.guardrail == "":
				if len(plan.Changes) != 1 || plan.Changes[0].To != tt.to {
					t.Errorf("want accepted, got changes %+v refused %+v", plan.Changes, plan.Refused)
				}
			default:
				if len(plan.Refused) != 1 || plan.Refused[0].Guardrail != tt.guardrail {
					t.Errorf("want refused by %s, got changes %+v refused %+v", tt.guardrail, plan.Changes, plan.Refused)
				}
			}
		})
	}
}

func TestPlannerReservesListeningPorts(t *testing.T) {
	set := policySet(t, rangePolicy)
	// 8080 stays outside; 38000 and 40500 fall inside the new range; 39500
	// is reserved already.
	snap := snapshot("40000 40999", "39500", 8080, 38000, 39500, 40500)
	plan := Planner{Set: set, Now: t0}.Build(snap, []policies.Recommendation{rec("widen", KeyPortRange, "35000 40999")})
	if len(plan.Changes) != 2 || len(plan.Refused) != 0 {
		t.Fatalf("changes %+v refused %+v", plan.Changes, plan.Refused)
	}
	res, rng := plan.Changes[0], plan.Changes[1]
	if res.Key != KeyReservedPorts || res.From != "39500" || res.To != "38000,39500,40500" {
		t.Errorf("reservation = %+v", res)
	}
	if rng.Key != KeyPortRange || rng.Group != res.Group || len(plan.Groups()) != 1 {
		t.Errorf("range change %+v not grouped after the reservation", rng)
	}
}

func TestPlannerNeedsListeners(t *testing.T) {
	set := policySet(t, rangePolicy)
	snap := snapshot("40000 40999", "")
	snap.Sockets = nil
	plan := Planner{Set: set, Now: t0}.Build(snap, []policies.Recommendation{rec("widen", KeyPortRange, "35000 40999")})
	if len(plan.Refused) != 1 || plan.Refused[0].Guardrail != GuardListening {
		t.Errorf("want refusal for unknown listeners, got %+v", plan)
	}
}

func TestPlannerUnprivilegedPortStart(t *testing.T) {
	set := policySet(t, `guardrail "net.ipv4.ip_local_port_range" {
  allow_privileged_low = true
}`)
	snap := snapshot("40000 40999", "")
	snap.Sysctls.UnprivilegedPortStart = 2048
	plan := Planner{Set: set, Now: t0}.Build(snap, []policies.Recommendation{rec("widen", KeyPortRange, "1500 40999")})
	if len(plan.Refused) != 1 || plan.Refused[0].Guardrail != GuardUnprivileged {
		t.Errorf("want refusal below ip_unprivileged_port_start, got %+v", plan)
	}
}

func TestPlannerStateGuardrails(t *testing.T) {
	set := policySet(t, rangePolicy)
	managed := func(m ManagedKey) *State {
		return &State{Managed: map[string]*ManagedKey{KeyPortRange: &m}}
	}
	tests := []struct {
		name      string
		state     *State
		now       time.Time
		to        string
		guardrail string
	}{
		{"within cooldown", managed(ManagedKey{LastChange: t0.Add(-time.Minute), Direction: 1}), t0, "35000 40999", GuardCooldown},
		{"after cooldown", managed(ManagedKey{LastChange: t0.Add(-10 * time.Minute), Direction: 1}), t0, "35000 40999", ""},
		{"released key", managed(ManagedKey{Released: true, ReleasedAt: t0}), t0, "35000 40999", GuardOutsideChange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Planner{Set: set, State: tt.state, Now: tt.now}.Build(snapshot("40000 40999", ""), []policies.Recommendation{rec("widen", KeyPortRange, tt.to)})
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
	st := &State{Managed: map[string]*ManagedKey{"net.ipv4.tcp_fin_timeout": {Original: "60", LastWritten: "30", LastChange: t0.Add(-time.Hour), Direction: -1}}}
	snap := snapshot("40000 40999", "")
	snap.Sysctls.Raw["net.ipv4.tcp_fin_timeout"] = "30"
	up := Planner{Set: set, State: st, Now: t0}.Build(snap, []policies.Recommendation{rec("r", "net.ipv4.tcp_fin_timeout", "45")})
	if len(up.Refused) != 1 || up.Refused[0].Guardrail != GuardHysteresis {
		t.Errorf("raising after a lowering: %+v", up)
	}
	down := Planner{Set: set, State: st, Now: t0}.Build(snap, []policies.Recommendation{rec("r", "net.ipv4.tcp_fin_timeout", "20")})
	if len(down.Changes) != 1 {
		t.Errorf("lowering further: %+v", down)
	}
}

func TestPlannerAdviceAndConflicts(t *testing.T) {
	set := policySet(t, rangePolicy)
	recs := []policies.Recommendation{
		{Rule: "leak", Severity: "critical", Message: "api.service leaks"},
		rec("first", "net.ipv4.tcp_fin_timeout", "30"),
		rec("second", "net.ipv4.tcp_fin_timeout", "40"),
	}
	plan := Planner{Set: set, Now: t0}.Build(snapshot("40000 40999", ""), recs)
	if len(plan.Advice) != 1 || plan.Advice[0].Rule != "leak" {
		t.Errorf("advice = %+v", plan.Advice)
	}
	if len(plan.Changes) != 1 || plan.Changes[0].Rule != "first" || plan.Changes[0].From != "60" {
		t.Errorf("changes = %+v", plan.Changes)
	}
	if len(plan.Refused) != 1 || plan.Refused[0].Rule != "second" {
		t.Errorf("refused = %+v", plan.Refused)
	}
}

// TestPlannerChecksInvariantsAcrossGroups: a rule that reserves ports and a
// later rule that widens the range are checked against each other.
func TestPlannerChecksInvariantsAcrossGroups(t *testing.T) {
	set := policySet(t, rangePolicy)
	snap := snapshot("40000 40999", "", 38000)
	recs := []policies.Recommendation{
		rec("reserve", KeyReservedPorts, "38000"),
		rec("widen", KeyPortRange, "35000 40999"),
	}
	plan := Planner{Set: set, Now: t0}.Build(snap, recs)
	// The reservation is already planned, so the widening needs no second
	// reservation change and passes the listening-port invariant.
	if len(plan.Changes) != 2 || plan.Changes[0].Key != KeyReservedPorts || plan.Changes[1].Key != KeyPortRange || len(plan.Refused) != 0 {
		t.Errorf("changes %+v refused %+v", plan.Changes, plan.Refused)
	}
	if snap.Sysctls.Raw[KeyReservedPorts] != "" {
		t.Error("Build changed the caller's snapshot")
	}
}

// TestPlannerReservesPolicyPorts: ports the policy says services will
// listen on are reserved like listening ones.
func TestPlannerReservesPolicyPorts(t *testing.T) {
	set := policySet(t, `guardrail "net.ipv4.ip_local_port_range" {
  reserve = [41000, 50000, 39000]
}`)
	snap := snapshot("40000 40999", "", 41500)
	plan := Planner{Set: set, Now: t0}.Build(snap, []policies.Recommendation{rec("widen", KeyPortRange, "40000 45999")})
	if len(plan.Changes) != 2 || plan.Changes[0].To != "41000,41500" {
		t.Errorf("changes %+v refused %+v", plan.Changes, plan.Refused)
	}
}
