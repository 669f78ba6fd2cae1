package remediate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// GuardError says which guardrail refused a change, and why.
type GuardError struct {
	Key       string
	Guardrail string
	Reason    string
}

func (e *GuardError) Error() string {
	return fmt.Sprintf("%s: refused by guardrail %s: %s", e.Key, e.Guardrail, e.Reason)
}

// Guardrail names, as reported in refusals and logs.
const (
	GuardBuiltin       = "builtin"
	GuardUnprivileged  = "ip_unprivileged_port_start"
	GuardNeverShrink   = "never-shrink"
	GuardListening     = "listening-ports"
	GuardPolicyMin     = "policy-min"
	GuardPolicyMax     = "policy-max"
	GuardPolicyAllowed = "policy-allowed"
	GuardPolicyStep    = "policy-max-step"
	GuardCooldown      = "cooldown"
	GuardHysteresis    = "hysteresis"
	GuardOutsideChange = "outside-change"
)

// Guard checks changes against every guardrail: the built-in kernel rules
// (DESIGN §3), the policy's guardrail for the key, and the state store's
// cooldowns, hysteresis and keys given up.
type Guard struct {
	Set   *policies.Set
	State *State
	Now   time.Time
}

// CheckGroup checks each change of a group on its own, then the invariants
// between keys once the whole group would be applied.
func (g Guard) CheckGroup(changes []Change, snap advisor.Snapshot) *GuardError {
	for _, c := range changes {
		if err := g.Check(c, snap); err != nil {
			return err
		}
	}
	return g.checkInvariants(changes, snap)
}

// Check checks one change against its key's guardrails.
func (g Guard) Check(c Change, snap advisor.Snapshot) *GuardError {
	refuse := func(guardrail, format string, args ...any) *GuardError {
		return &GuardError{Key: c.Key, Guardrail: guardrail, Reason: fmt.Sprintf(format, args...)}
	}
	pol := g.Set.Guardrail(c.Key)
	check := policies.CheckValue
	if pol.AllowPrivilegedLow {
		check = policies.CheckValuePrivileged
	}
	if err := check(c.Key, c.To); err != nil {
		return refuse(GuardBuiltin, "%v", err)
	}
	if g.State != nil {
		if m, ok := g.State.Managed[c.Key]; ok {
			if m.Released {
				return refuse(GuardOutsideChange, "changed outside tcp-advisor at %s; it is no longer managed (tcp-advisor rollback --key %s resets)", m.ReleasedAt.Format(time.RFC3339), c.Key)
			}
			if next := m.LastChange.Add(pol.Cooldown); pol.Cooldown > 0 && g.Now.Before(next) {
				return refuse(GuardCooldown, "last changed %s ago; cooldown %s", g.Now.Sub(m.LastChange).Round(time.Second), pol.Cooldown)
			}
			if dir := direction(c.Key, c.From, c.To); dir != 0 && m.Direction != 0 && dir != m.Direction {
				return refuse(GuardHysteresis, "would reverse the change to %q made at %s; only an explicit rollback goes back", m.LastWritten, m.LastChange.Format(time.RFC3339))
			}
		}
	}
	if len(pol.Allowed) > 0 && !slices.Contains(pol.Allowed, c.To) {
		return refuse(GuardPolicyAllowed, "%q is not among the allowed values %s", c.To, strings.Join(pol.Allowed, ", "))
	}
	if c.Key == KeyPortRange {
		return checkPortRange(c, pol, snap, refuse)
	}
	if c.Key == KeyReservedPorts {
		return nil
	}
	to, ok1 := numeric(c.Key, c.To)
	from, ok2 := numeric(c.Key, c.From)
	if !ok1 {
		return refuse(GuardBuiltin, "%q is not an integer", c.To)
	}
	if pol.Min != nil && to < *pol.Min {
		return refuse(GuardPolicyMin, "%d is below the guardrail minimum %d", to, *pol.Min)
	}
	if pol.Max != nil && to > *pol.Max {
		return refuse(GuardPolicyMax, "%d is above the guardrail maximum %d", to, *pol.Max)
	}
	if pol.MaxStep != nil && ok2 && abs(to-from) > *pol.MaxStep {
		return refuse(GuardPolicyStep, "a step of %d exceeds the policy max_step %d", abs(to-from), *pol.MaxStep)
	}
	return nil
}

// checkPortRange applies DESIGN §3.5 and the policy's bounds to a new
// ip_local_port_range.
func checkPortRange(c Change, pol policies.Guardrail, snap advisor.Snapshot, refuse func(string, string, ...any) *GuardError) *GuardError {
	to, err := advisor.ParsePortRange(c.To)
	if err != nil {
		return refuse(GuardBuiltin, "%v", err)
	}
	from := snap.Sysctls.PortRange
	// Ports below ip_unprivileged_port_start are for privileged binds;
	// handing them out to connect() would let any connection take them.
	if to.Low < snap.Sysctls.UnprivilegedPortStart {
		return refuse(GuardUnprivileged, "low %d is below ip_unprivileged_port_start %d", to.Low, snap.Sysctls.UnprivilegedPortStart)
	}
	if pol.Min != nil && int64(to.Low) < *pol.Min {
		return refuse(GuardPolicyMin, "low %d is below the guardrail minimum %d", to.Low, *pol.Min)
	}
	if pol.Max != nil && int64(to.High) > *pol.Max {
		return refuse(GuardPolicyMax, "high %d is above the guardrail maximum %d", to.High, *pol.Max)
	}
	// Shrinking a range under load strands the connections outside it;
	// only an explicit rollback narrows it.
	if to.Low > from.Low || to.High < from.High {
		return refuse(GuardNeverShrink, "%s does not contain the current range %s", to, from)
	}
	if step := int64(to.Size() - from.Size()); pol.MaxStep != nil && step > *pol.MaxStep {
		return refuse(GuardPolicyStep, "widening by %d ports exceeds the policy max_step %d", step, *pol.MaxStep)
	}
	return nil
}

// withReservations returns the range change preceded, when needed, by the
// ip_local_reserved_ports change that keeps every port a service listens on,
// or will (the policy guardrail's reserve list), inside the new range out
// of connect()'s hands (ip-sysctl.rst: a port in the range can be taken by
// an outgoing connection before its service binds it).
func (g Guard) withReservations(c Change, snap advisor.Snapshot) ([]Change, *GuardError) {
	if snap.Sockets == nil {
		return nil, &GuardError{Key: c.Key, Guardrail: GuardListening, Reason: "listening ports are unknown (no socket dump in this observation), so the reservations a wider range needs cannot be computed"}
	}
	to, err := advisor.ParsePortRange(c.To)
	if err != nil {
		return nil, &GuardError{Key: c.Key, Guardrail: GuardBuiltin, Reason: err.Error()}
	}
	reserved := snap.Sysctls.ReservedPorts
	var missing []int
	for _, p := range g.servicePorts(snap) {
		if to.Contains(p) && !reserved.Contains(p) {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return []Change{c}, nil
	}
	res := Change{
		Key:      KeyReservedPorts,
		From:     reserved.String(),
		To:       reserved.Add(missing...).String(),
		Rule:     c.Rule,
		Severity: c.Severity,
		Reason:   fmt.Sprintf("reserve service ports %s inside the new range %s before widening it", portList(missing), to),
	}
	return []Change{res, c}, nil
}

// servicePorts are the ports a widened range must leave to services: those
// listening now and those the policy says will listen, sorted.
func (g Guard) servicePorts(snap advisor.Snapshot) []int {
	ports := append(listeningPorts(snap), g.Set.Guardrail(KeyPortRange).Reserve...)
	slices.Sort(ports)
	return slices.Compact(ports)
}

// checkInvariants checks the relations between keys once a group applies:
// the range stays above ip_unprivileged_port_start and every service port
// inside the final range is reserved.
func (g Guard) checkInvariants(changes []Change, snap advisor.Snapshot) *GuardError {
	rng, reserved := snap.Sysctls.PortRange, snap.Sysctls.ReservedPorts
	rangeChanged := false
	for _, c := range changes {
		var err error
		switch c.Key {
		case KeyPortRange:
			rng, err = advisor.ParsePortRange(c.To)
			rangeChanged = true
		case KeyReservedPorts:
			reserved, err = advisor.ParsePortSet(c.To)
		}
		if err != nil {
			return &GuardError{Key: c.Key, Guardrail: GuardBuiltin, Reason: err.Error()}
		}
	}
	if rng.Low < snap.Sysctls.UnprivilegedPortStart {
		return &GuardError{Key: KeyPortRange, Guardrail: GuardUnprivileged, Reason: fmt.Sprintf("low %d is below ip_unprivileged_port_start %d", rng.Low, snap.Sysctls.UnprivilegedPortStart)}
	}
	if !rangeChanged || snap.Sockets == nil {
		return nil
	}
	for _, p := range g.servicePorts(snap) {
		if rng.Contains(p) && !reserved.Contains(p) {
			return &GuardError{Key: KeyPortRange, Guardrail: GuardListening, Reason: fmt.Sprintf("service port %d would fall inside %s without being reserved", p, rng)}
		}
	}
	if usable := advisor.UsablePorts(rng, reserved); usable <= 0 {
		return &GuardError{Key: KeyReservedPorts, Guardrail: GuardBuiltin, Reason: fmt.Sprintf("reserved ports would leave no usable port in %s", rng)}
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

func portList(ports []int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}
