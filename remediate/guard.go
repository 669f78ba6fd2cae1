package remediate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// The guardrails, by the names refusals, logs and metrics give them.
const (
	// GuardAllowList: the key is not one tcp-advisor may set.
	GuardAllowList = "allow-list"
	// GuardBuiltin: the value is outside the registry's bounds, which no
	// policy can loosen.
	GuardBuiltin = "built-in"
	// GuardKeyPresent: this kernel or namespace lacks the key.
	GuardKeyPresent = "key-present"
	// GuardOneRule: another rule already changes the key in this plan.
	GuardOneRule = "one-rule-per-key"
	// GuardUnprivileged: the port range's low would fall below
	// ip_unprivileged_port_start, which the kernel refuses.
	GuardUnprivileged = "ip_unprivileged_port_start"
	// GuardLowEnd: the port range's low end moves without the
	// guardrail's low_floor opt-in, or below the floor.
	GuardLowEnd = "low-end"
	// GuardNeverShrink: the new range does not contain the current one.
	GuardNeverShrink = "never-shrink"
	// GuardServicePorts: ports services hold inside a widened range are
	// not reserved, or are unknown.
	GuardServicePorts = "service-ports"
	// GuardMin, GuardMax, GuardAllowed, GuardMaxStep and GuardCooldown
	// are the policy guardrail's attributes (min, max, allowed, max_step,
	// cooldown).
	GuardMin      = "min"
	GuardMax      = "max"
	GuardAllowed  = "allowed"
	GuardMaxStep  = "max_step"
	GuardCooldown = "cooldown"
	// GuardHysteresis: the change would reverse tcp-advisor's own change.
	GuardHysteresis = "hysteresis"
	// GuardReleased: someone else changed the key, and tcp-advisor
	// released it.
	GuardReleased = "released"
)

// Refusal is a change a guardrail stopped: the change (what was proposed,
// by which rule) and the guardrail, its bound and where it is declared.
type Refusal struct {
	// Change is the refused change. Its Reason, the rule's, is hidden in
	// JSON by the refusal's own.
	Change
	Guardrail string `json:"guardrail"`
	// Bound is the bound the guardrail enforces, such as "max_step 16384".
	Bound string `json:"bound"`
	// Source is where the guardrail is declared: file:line:column, or
	// "built-in".
	Source string `json:"guardrail_source"`
	// Reason is why the guardrail refused it.
	Reason string `json:"reason"`
}

// Error describes the refusal in one line.
func (r *Refusal) Error() string {
	return fmt.Sprintf("%s %q -> %q refused by guardrail %s (%s, %s): %s", r.Key, r.From, r.To, r.Guardrail, r.Bound, r.Source, r.Reason)
}

// checkGroup is the guard, which decides whether a group of proposed
// changes may be written: the one place where the registry's bounds, the
// policy's guardrails, the live host and the state store's cooldowns,
// hysteresis and released keys are checked. It checks each change on its
// own, then the invariants between keys once the whole group would be
// applied. snap holds the values the groups before this one leave.
func (p Planner) checkGroup(changes []Change, snap advisor.Snapshot) *Refusal {
	for _, c := range changes {
		if r := p.check(c, snap); r != nil {
			return r
		}
	}
	return p.checkInvariants(changes, snap)
}

// refusal starts a refusal of c.
func refusal(c Change, guardrail, bound, source, format string, args ...any) *Refusal {
	return &Refusal{Change: c, Guardrail: guardrail, Bound: bound, Source: source, Reason: fmt.Sprintf(format, args...)}
}

// check checks one change against its key's guardrails.
func (p Planner) check(c Change, snap advisor.Snapshot) *Refusal {
	pol := p.Set.Guardrail(c.Key)
	if err := advisor.CheckSettable(c.Key); err != nil {
		return refusal(c, GuardAllowList, "settable keys", "built-in", "%v", err)
	}
	reg, _ := advisor.LookupSysctl(c.Key)
	if c.Key == advisor.KeyPortRange && pol.AllowPrivilegedLow {
		reg.Min = 1
	}
	if err := reg.Check(c.To); err != nil {
		return refusal(c, GuardBuiltin, reg.Bounds(), "built-in", "%v", err)
	}
	if p.State != nil {
		m, managed := p.State.Managed[c.Key]
		if managed && m.Released {
			return refusal(c, GuardReleased, "released at "+m.ReleasedAt.Format(time.RFC3339), "state",
				"changed outside tcp-advisor; it is no longer managed (tcp-advisor rollback --key %s restores the original)", c.Key)
		}
		// A rollback changed the key too: the cooldown runs from it, so
		// an agent in enforce mode changes a rolled-back key again at
		// most once per cooldown.
		if last, what, ok := p.State.lastChange(c.Key); ok && pol.Cooldown > 0 && p.Now.Before(last.Add(pol.Cooldown)) {
			return refusal(c, GuardCooldown, "cooldown "+pol.Cooldown.String(), pol.SourceOf("cooldown"),
				"%s %s ago", what, p.Now.Sub(last).Round(time.Second))
		}
		// Hysteresis is about tcp-advisor's own changes: a rollback ends
		// the key's record, and the direction starts afresh.
		if managed {
			if dir := direction(c.Key, c.From, c.To); dir != 0 && m.Direction != 0 && dir != m.Direction {
				return refusal(c, GuardHysteresis, "no reversal", "built-in",
					"would reverse the change to %q made at %s; only an explicit rollback goes back", m.LastWritten, m.LastChange.Format(time.RFC3339))
			}
		}
	}
	if len(pol.Allowed) > 0 && !slices.Contains(pol.Allowed, c.To) {
		return refusal(c, GuardAllowed, "allowed "+strings.Join(pol.Allowed, ", "), pol.SourceOf("allowed"),
			"%q is not among the allowed values", c.To)
	}
	switch c.Key {
	case advisor.KeyPortRange:
		return checkPortRange(c, pol, snap)
	case advisor.KeyReservedPorts:
		return nil
	}
	to, _ := strconv.ParseInt(c.To, 10, 64)
	if pol.Min != nil && to < *pol.Min {
		return refusal(c, GuardMin, fmt.Sprintf("min %d", *pol.Min), pol.SourceOf("min"), "%d is below the guardrail's minimum", to)
	}
	if pol.Max != nil && to > *pol.Max {
		return refusal(c, GuardMax, fmt.Sprintf("max %d", *pol.Max), pol.SourceOf("max"), "%d is above the guardrail's maximum", to)
	}
	if from, err := strconv.ParseInt(c.From, 10, 64); err == nil && pol.MaxStep != nil && abs(to-from) > *pol.MaxStep {
		return refusal(c, GuardMaxStep, fmt.Sprintf("max_step %d", *pol.MaxStep), pol.SourceOf("max_step"), "a step of %d is larger", abs(to-from))
	}
	return nil
}

// checkPortRange applies the port range's guardrails: the kernel's floor,
// the low end that stays unless the policy opts in, never shrinking, and
// the policy's bounds and step.
func checkPortRange(c Change, pol policies.Guardrail, snap advisor.Snapshot) *Refusal {
	to, _ := advisor.ParsePortRange(c.To) // the registry check parsed it
	from := snap.Sysctls.PortRange()
	if start := snap.Sysctls.Int(advisor.KeyUnprivilegedPortStart); to.Low < start {
		return refusal(c, GuardUnprivileged, fmt.Sprintf("ip_unprivileged_port_start %d", start), "built-in",
			"low %d would hand privileged ports to connect(); the kernel refuses it", to.Low)
	}
	// Shrinking a range under load strands the connections outside it;
	// only an explicit rollback narrows it.
	if to.Low > from.Low || to.High < from.High {
		return refusal(c, GuardNeverShrink, "contains "+from.String(), "built-in", "%s does not contain the current range %s", to, from)
	}
	// Ports below the range may belong to services that are stopped or
	// restarting, or to Kubernetes NodePorts, which have no listening
	// socket to see: the low end moves only where the policy says how far.
	if to.Low < from.Low {
		if pol.LowFloor == nil {
			return refusal(c, GuardLowEnd, fmt.Sprintf("low %d (no low_floor)", from.Low), pol.Source(),
				"the low end stays where it is unless the guardrail sets low_floor; raise high instead")
		}
		if int64(to.Low) < *pol.LowFloor {
			return refusal(c, GuardLowEnd, fmt.Sprintf("low_floor %d", *pol.LowFloor), pol.SourceOf("low_floor"), "low %d is below the floor", to.Low)
		}
	}
	if pol.Min != nil && int64(to.Low) < *pol.Min {
		return refusal(c, GuardMin, fmt.Sprintf("min %d", *pol.Min), pol.SourceOf("min"), "low %d is below the guardrail's minimum", to.Low)
	}
	if pol.Max != nil && int64(to.High) > *pol.Max {
		return refusal(c, GuardMax, fmt.Sprintf("max %d", *pol.Max), pol.SourceOf("max"), "high %d is above the guardrail's maximum", to.High)
	}
	if step := int64(to.Size() - from.Size()); pol.MaxStep != nil && step > *pol.MaxStep {
		return refusal(c, GuardMaxStep, fmt.Sprintf("max_step %d", *pol.MaxStep), pol.SourceOf("max_step"), "widening by %d ports is more", step)
	}
	return nil
}

// newServicePorts returns the ports services hold, or will (the guardrail's
// reserve list), that a change of the range from cur to next leaves inside
// the range unreserved: TCP listeners and UDP sockets on ports the change
// brings into the range (a socket bound there before was bound on purpose,
// not picked automatically), and reserve ports anywhere in it. A socket on
// a port already inside the range may be an automatic choice and is left
// alone. ok is false when the observation did not dump the sockets.
func (p Planner) newServicePorts(snap advisor.Snapshot, cur, next advisor.PortRange, reserved advisor.PortSet) (missing advisor.PortSet, ok bool) {
	if snap.Sockets == nil || !snap.Sockets.Dumped.Has(advisor.Listen) {
		return nil, false
	}
	var held advisor.PortSet
	for _, l := range snap.Sockets.Listeners {
		held = held.Add(int(l.ID.Local.Port()))
	}
	held = held.Union(snap.Sockets.UDPPorts)
	want := held.Minus(advisor.PortSet{cur}).Within(next).Union(p.Set.Guardrail(advisor.KeyPortRange).Reserve.Within(next))
	return want.Minus(reserved), true
}

// withReservations returns the range change preceded, when needed, by the
// ip_local_reserved_ports change that keeps the ports services hold inside
// the new range out of automatic port choice: otherwise an outgoing
// connection, TCP or UDP, could take a service's port while it restarts.
func (p Planner) withReservations(c Change, snap advisor.Snapshot) ([]Change, *Refusal) {
	to, err := advisor.ParsePortRange(c.To)
	if err != nil {
		return []Change{c}, nil // check refuses it
	}
	reserved := snap.Sysctls.ReservedPorts()
	missing, ok := p.newServicePorts(snap, snap.Sysctls.PortRange(), to, reserved)
	if !ok {
		return nil, refusal(c, GuardServicePorts, "services' ports reserved", "built-in",
			"the ports services hold are unknown (no socket dump in this observation), so the reservations a wider range needs cannot be computed")
	}
	if len(missing) == 0 {
		return []Change{c}, nil
	}
	res := Change{
		Key:        advisor.KeyReservedPorts,
		From:       reserved.String(),
		To:         reserved.Union(missing).String(),
		Rule:       c.Rule,
		Severity:   c.Severity,
		RuleSource: c.RuleSource,
		Reason:     fmt.Sprintf("reserve the ports services hold or will hold (%s) inside the new range %s before widening it", missing, to),
	}
	return []Change{res, c}, nil
}

// checkInvariants checks the relations between keys once a group applies:
// every service port the range change brings in is reserved, and
// reservations leave ports usable. Build has already kept the range above
// ip_unprivileged_port_start (check) and refused a range change without a
// socket dump to know the services' ports (withReservations).
func (p Planner) checkInvariants(changes []Change, snap advisor.Snapshot) *Refusal {
	cur := snap.Sysctls.PortRange()
	rng, reserved := cur, snap.Sysctls.ReservedPorts()
	var rangeChange *Change
	for i, c := range changes {
		switch c.Key {
		case advisor.KeyPortRange:
			rng, _ = advisor.ParsePortRange(c.To)
			rangeChange = &changes[i]
		case advisor.KeyReservedPorts:
			reserved, _ = advisor.ParsePortSet(c.To)
		}
	}
	if rangeChange == nil {
		if usable := advisor.UsablePorts(rng, reserved); usable <= 0 {
			return refusal(changes[0], GuardBuiltin, "a usable port", "built-in", "reserved ports would leave no usable port in %s", rng)
		}
		return nil
	}
	c := *rangeChange
	if missing, _ := p.newServicePorts(snap, cur, rng, reserved); len(missing) > 0 {
		return refusal(c, GuardServicePorts, "services' ports reserved", "built-in",
			"service ports %s would fall inside %s without being reserved", missing, rng)
	}
	if usable := advisor.UsablePorts(rng, reserved); usable <= 0 {
		return refusal(c, GuardBuiltin, "a usable port", "built-in", "reserved ports would leave no usable port in %s", rng)
	}
	return nil
}

// direction is +1 if to raises the key's value, -1 if it lowers it, 0 if it
// cannot tell.
func direction(key, from, to string) int {
	a, ok1 := numeric(key, from)
	b, ok2 := numeric(key, to)
	switch {
	case !ok1 || !ok2 || a == b:
		return 0
	case b > a:
		return 1
	default:
		return -1
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
