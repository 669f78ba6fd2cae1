package remediate

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// Sysctl keys remediate treats specially.
const (
	KeyPortRange     = "net.ipv4.ip_local_port_range"
	KeyReservedPorts = "net.ipv4.ip_local_reserved_ports"
)

// Change is one sysctl write of a plan.
type Change struct {
	Key      string `json:"key"`
	From     string `json:"from"`
	To       string `json:"to"`
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Reason   string `json:"reason"`
	// Group ties changes that must apply together or not at all, in
	// order: a widened port range and the reserved ports it needs.
	Group int `json:"group"`
}

// Advice is a recommendation no sysctl carries out.
type Advice struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// Refusal is a change a guardrail stopped.
type Refusal struct {
	Key       string `json:"key"`
	From      string `json:"from"`
	To        string `json:"to"`
	Rule      string `json:"rule"`
	Guardrail string `json:"guardrail"`
	Reason    string `json:"reason"`
}

// Plan is what tcp-advisor proposes for one observation.
type Plan struct {
	Time    time.Time `json:"time"`
	Changes []Change  `json:"changes"`
	Advice  []Advice  `json:"advice"`
	Refused []Refusal `json:"refused"`
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

// Planner builds plans: it checks every proposed change against the
// built-in and policy guardrails, the live values in the snapshot and what
// the state store remembers (cooldowns, hysteresis, keys given up).
type Planner struct {
	Set   *policies.Set
	State *State // may be nil: no cooldowns or history
	Now   time.Time
}

// Build turns recommendations into a plan for snap.
func (p Planner) Build(snap advisor.Snapshot, recs []policies.Recommendation) Plan {
	plan := Plan{Time: p.Now, Changes: []Change{}, Advice: []Advice{}, Refused: []Refusal{}}
	claimed := map[string]string{} // key → rule that first set it
	// live keeps the observed values (normalized by observe); snap gets a
	// copy that each group is simulated into, so invariants between keys
	// are checked against what the groups before it leave.
	live := snap.Sysctls.Raw
	snap = withRaw(snap)
	group := 0
	for _, rec := range recs {
		if len(rec.Changes) == 0 {
			plan.Advice = append(plan.Advice, Advice{Rule: rec.Rule, Severity: rec.Severity, Message: rec.Message})
			continue
		}
		for _, pc := range rec.Changes {
			to := policies.NormalizeValue(pc.Value)
			from, present := live[pc.Key]
			c := Change{Key: pc.Key, From: from, To: to, Rule: rec.Rule, Severity: rec.Severity, Reason: rec.Message}
			if present && from == to {
				continue
			}
			refuse := func(guardrail, reason string) {
				plan.Refused = append(plan.Refused, Refusal{Key: c.Key, From: c.From, To: c.To, Rule: c.Rule, Guardrail: guardrail, Reason: reason})
			}
			if !present {
				refuse("key-present", fmt.Sprintf("%s cannot be read here (absent from this kernel, or global and hidden in this network namespace)", pc.Key))
				continue
			}
			if first, ok := claimed[pc.Key]; ok {
				refuse("one-rule-per-key", fmt.Sprintf("rule %q already sets %s in this plan", first, pc.Key))
				continue
			}
			changes, g := []Change{c}, Guard(p)
			if pc.Key == KeyPortRange {
				var err *GuardError
				if changes, err = g.withReservations(c, snap); err != nil {
					refuse(err.Guardrail, err.Reason)
					continue
				}
			}
			if err := g.CheckGroup(changes, snap); err != nil {
				refuse(err.Guardrail, err.Reason)
				continue
			}
			group++
			for _, ch := range changes {
				ch.Group = group
				claimed[ch.Key] = rec.Rule
				plan.Changes = append(plan.Changes, ch)
				simulate(&snap, ch)
			}
		}
	}
	return plan
}

// withRaw returns snap with its own copy of the raw sysctl map, so the plan
// can simulate its changes without touching the caller's snapshot.
func withRaw(snap advisor.Snapshot) advisor.Snapshot {
	raw := make(map[string]string, len(snap.Sysctls.Raw))
	for k, v := range snap.Sysctls.Raw {
		raw[k] = v
	}
	snap.Sysctls.Raw = raw
	return snap
}

// simulate applies an accepted change to the snapshot's sysctls.
func simulate(snap *advisor.Snapshot, c Change) {
	snap.Sysctls.Raw[c.Key] = c.To
	switch c.Key {
	case KeyPortRange:
		if r, err := advisor.ParsePortRange(c.To); err == nil {
			snap.Sysctls.PortRange = r
		}
	case KeyReservedPorts:
		if s, err := advisor.ParsePortSet(c.To); err == nil {
			snap.Sysctls.ReservedPorts = s
		}
	}
}

// listeningPorts returns the distinct local ports of the snapshot's
// listening sockets, sorted.
func listeningPorts(snap advisor.Snapshot) []int {
	var ports []int
	for _, l := range snap.Sockets.Listeners {
		ports = append(ports, int(l.ID.Local.Port()))
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}

// numeric orders a value for hysteresis and steps: an integer as itself, a
// port range by its size, a port list by its port count.
func numeric(key, v string) (int64, bool) {
	switch key {
	case KeyPortRange:
		r, err := advisor.ParsePortRange(v)
		return int64(r.Size()), err == nil
	case KeyReservedPorts:
		s, err := advisor.ParsePortSet(v)
		if err != nil {
			return 0, false
		}
		return int64(s.CountIn(advisor.PortRange{Low: 0, High: 65535})), true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}
