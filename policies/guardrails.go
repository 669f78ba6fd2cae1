package policies

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// agent decodes the agent block. It may appear once across all files:
// with one file per concern, one file owns the agent's settings, and a
// second block is a mistake worth an error rather than a silent override.
func (l *loader) agent(b *hcl.Block) {
	if l.agentAt != nil {
		l.errorf(b.DefRange, "Duplicate agent block",
			"The agent block is already declared at %s; declare it once across all policy files.", rangeString(*l.agentAt))
		return
	}
	l.agentAt = b.DefRange.Ptr()
	c, diags := b.Body.Content(agentSchema)
	l.diags = append(l.diags, diags...)
	st := &l.set.Settings
	st.Range = b.DefRange
	if a, ok := c.Attributes["mode"]; ok {
		if v, ok := l.constant(a, cty.String); ok {
			switch m := v.AsString(); m {
			case ModeDryRun, ModeEnforce:
				st.Mode = m
			default:
				l.errorf(a.Expr.Range(), "Invalid mode", "mode %q: want %q or %q.", m, ModeDryRun, ModeEnforce)
			}
		}
	}
	if a, ok := c.Attributes["interval"]; ok {
		if d, ok := l.duration(a); ok {
			if d < time.Second {
				l.errorf(a.Expr.Range(), "Invalid interval", "interval %s: want 1s or more.", d)
			} else {
				st.Interval = d
			}
		}
	}
	if a, ok := c.Attributes["persist"]; ok {
		if v, ok := l.constant(a, cty.Bool); ok {
			st.Persist = v.True()
		}
	}
	if a, ok := c.Attributes["persist_path"]; ok {
		if v, ok := l.constant(a, cty.String); ok {
			p := v.AsString()
			// systemd-sysctl reads only *.conf files in sysctl.d; the
			// agent runs as root and writes nowhere else.
			if !filepath.IsAbs(p) || !strings.HasSuffix(p, ".conf") || filepath.Clean(p) != p || filepath.Dir(p) != PersistDir || strings.HasPrefix(filepath.Base(p), ".") {
				l.errorf(a.Expr.Range(), "Invalid persist_path",
					"persist_path %q: want a file directly in %s ending in .conf, such as %q.", p, PersistDir, DefaultPersistPath)
			} else {
				st.PersistPath = p
			}
		}
	}
}

// duration evaluates a duration attribute.
func (l *loader) duration(a *hcl.Attribute) (time.Duration, bool) {
	v, ok := l.constantDuration(a)
	if !ok {
		return 0, false
	}
	var d time.Duration
	if v.Type() == cty.Number {
		f, _ := v.AsBigFloat().Float64()
		if f > float64(1<<62)/float64(time.Second) {
			l.errorf(a.Expr.Range(), "Invalid duration", "%s is too long.", a.Name)
			return 0, false
		}
		d = time.Duration(f * float64(time.Second))
	} else {
		var err error
		if d, err = time.ParseDuration(v.AsString()); err != nil {
			l.errorf(a.Expr.Range(), "Invalid duration", `%s: %s; want a duration such as "30s" or "5m".`, a.Name, err)
			return 0, false
		}
	}
	if d < 0 {
		l.errorf(a.Expr.Range(), "Invalid duration", "%s must not be negative.", a.Name)
		return 0, false
	}
	return d, true
}

// guardrail decodes a guardrail block and merges it into the set.
func (l *loader) guardrail(b *hcl.Block) {
	key, keyRange := b.Labels[0], b.LabelRanges[0]
	if err := checkKey(key); err != nil {
		l.errorf(keyRange, "Key not allowed", "%s.", err)
		return
	}
	c, diags := b.Body.Content(guardrailSchema)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return
	}
	bi := builtins[key]
	g := Guardrail{Key: key, Range: b.DefRange}
	ok := true
	bad := func(a *hcl.Attribute, summary, format string, args ...any) {
		l.errorf(a.Expr.Range(), summary, format, args...)
		ok = false
	}
	if a, has := c.Attributes["allow_privileged_low"]; has {
		if v, vok := l.constant(a, cty.Bool); vok {
			g.AllowPrivilegedLow = v.True()
			if g.AllowPrivilegedLow && bi.kind != kindPortRange {
				bad(a, "Not applicable", "allow_privileged_low applies to %s only.", KeyPortRange)
			}
		} else {
			ok = false
		}
	}
	lowest := bi.min
	if bi.kind == kindPortRange && g.AllowPrivilegedLow {
		lowest = 1
	}
	for _, n := range []string{"min", "max"} {
		a, has := c.Attributes[n]
		if !has {
			continue
		}
		v, vok := l.constantInt(a)
		if !vok {
			ok = false
			continue
		}
		switch {
		case bi.kind == kindPortList:
			bad(a, "Not applicable", "%s does not apply to %s, a list of ports.", n, key)
		case v < lowest:
			why := ""
			if bi.kind == kindPortRange && !g.AllowPrivilegedLow {
				why = " (set allow_privileged_low = true to go below 1024)"
			}
			bad(a, "Guardrail loosens a built-in", "%s = %d is below the built-in bound %d of %s%s; a policy can only tighten built-in guardrails.", n, v, lowest, key, why)
		case v > bi.max:
			bad(a, "Guardrail loosens a built-in", "%s = %d is above the built-in bound %d of %s; a policy can only tighten built-in guardrails.", n, v, bi.max, key)
		case n == "min":
			g.Min = &v
		default:
			g.Max = &v
		}
	}
	if g.Min != nil && g.Max != nil && *g.Min > *g.Max {
		bad(c.Attributes["min"], "Invalid guardrail", "min %d is above max %d.", *g.Min, *g.Max)
	}
	if a, has := c.Attributes["max_step"]; has {
		if v, vok := l.constantInt(a); !vok {
			ok = false
		} else if bi.kind == kindPortList {
			bad(a, "Not applicable", "max_step does not apply to %s, a list of ports.", key)
		} else if v < 1 {
			bad(a, "Invalid guardrail", "max_step must be 1 or more.")
		} else {
			g.MaxStep = &v
		}
	}
	if a, has := c.Attributes["cooldown"]; has {
		if d, dok := l.duration(a); dok {
			g.Cooldown = d
		} else {
			ok = false
		}
	}
	if a, has := c.Attributes["allowed"]; has {
		v, vok := l.constant(a, cty.DynamicPseudoType)
		if !vok {
			ok = false
		} else if t := v.Type(); !(t.IsTupleType() || t.IsListType() || t.IsSetType()) || v.LengthInt() == 0 {
			bad(a, "Wrong type", `allowed must be a non-empty list of values, such as ["0", "1"].`)
		} else {
			bounds := g // min and max only: Allowed fills in below
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				s, err := valueString(e)
				if err == nil {
					err = checkValue(key, s, g.AllowPrivilegedLow)
				}
				if err == nil {
					err = bounds.checkBounds(s)
				}
				if err != nil {
					bad(a, "Invalid guardrail", "allowed value: %s.", err)
					continue
				}
				if !slices.Contains(g.Allowed, s) {
					g.Allowed = append(g.Allowed, s)
				}
			}
		}
	}
	if a, has := c.Attributes["reserve"]; has {
		if bi.kind != kindPortRange {
			bad(a, "Not applicable", "reserve applies to %s only.", KeyPortRange)
		} else if ports, pok := l.portList(a); pok {
			g.Reserve = ports
		} else {
			ok = false
		}
	}
	if !ok {
		return
	}
	prev, dup := l.set.Guardrails[key]
	if !dup {
		l.set.Guardrails[key] = g
		return
	}
	m, err := mergeGuardrails(prev, g)
	if err != nil {
		l.errorf(b.DefRange, "Conflicting guardrails", "%s conflicts with the guardrail declared at %s: %s.", key, rangeString(prev.Range), err)
		return
	}
	l.set.Guardrails[key] = m
}

// portList evaluates an attribute holding a list of port numbers, such as
// reserve = [8443, 9100], and returns them sorted and unique. An element
// that is not a port is reported at its own position when the list is
// written out.
func (l *loader) portList(a *hcl.Attribute) ([]int, bool) {
	v, ok := l.constant(a, cty.DynamicPseudoType)
	if !ok {
		return nil, false
	}
	t := v.Type()
	if !(t.IsTupleType() || t.IsListType() || t.IsSetType()) {
		l.errorf(a.Expr.Range(), "Wrong type", "%s must be a list of port numbers, such as [8443, 9100].", a.Name)
		return nil, false
	}
	var elems []hclsyntax.Expression
	if tc, isTuple := a.Expr.(*hclsyntax.TupleConsExpr); isTuple && len(tc.Exprs) == v.LengthInt() {
		elems = tc.Exprs
	}
	var ports []int
	i := 0
	for it := v.ElementIterator(); it.Next(); i++ {
		_, e := it.Element()
		rng := a.Expr.Range()
		if elems != nil {
			rng = elems[i].Range()
		}
		n, err := intArg(e)
		if err == nil && (n < 1 || n > 65535) {
			err = fmt.Errorf("%d is not a port number from 1 to 65535", n)
		}
		if err != nil {
			l.errorf(rng, "Invalid guardrail", "%s: %s.", a.Name, err)
			ok = false
			continue
		}
		ports = append(ports, int(n))
	}
	slices.Sort(ports)
	return slices.Compact(ports), ok
}

// mergeGuardrails merges two guardrails for one key: the tighter bound of
// each kind wins, so adding a file can only restrict what rules may do.
// Reserved ports add up: every file's services keep their ports.
func mergeGuardrails(a, b Guardrail) (Guardrail, error) {
	m := a
	m.Reserve = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a.Reserve), b.Reserve...))))
	m.Min = pick(a.Min, b.Min, true)
	m.Max = pick(a.Max, b.Max, false)
	m.MaxStep = pick(a.MaxStep, b.MaxStep, false)
	m.Cooldown = max(a.Cooldown, b.Cooldown)
	m.AllowPrivilegedLow = a.AllowPrivilegedLow && b.AllowPrivilegedLow
	switch {
	case len(a.Allowed) == 0:
		m.Allowed = b.Allowed
	case len(b.Allowed) > 0:
		m.Allowed = nil
		for _, v := range a.Allowed {
			if slices.Contains(b.Allowed, v) {
				m.Allowed = append(m.Allowed, v)
			}
		}
		if len(m.Allowed) == 0 {
			return m, errors.New("together their allowed lists allow no value")
		}
	}
	if m.Min != nil && m.Max != nil && *m.Min > *m.Max {
		return m, fmt.Errorf("together they require min %d <= max %d", *m.Min, *m.Max)
	}
	if !m.AllowPrivilegedLow && m.Min != nil && *m.Min < 1024 && a.Key == KeyPortRange {
		return m, fmt.Errorf("min %d needs allow_privileged_low in every guardrail for the key", *m.Min)
	}
	var kept []string
	for _, v := range m.Allowed {
		if m.checkBounds(v) == nil && checkValue(m.Key, v, m.AllowPrivilegedLow) == nil {
			kept = append(kept, v)
		}
	}
	if len(m.Allowed) > 0 && len(kept) == 0 {
		return m, errors.New("together they allow no value")
	}
	m.Allowed = kept
	return m, nil
}

// pick returns the larger (or smaller) of two optional bounds.
func pick(a, b *int64, larger bool) *int64 {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	v := min(*a, *b)
	if larger {
		v = max(*a, *b)
	}
	return &v
}

// checkBounds checks a normalized value against the guardrail's min, max
// and allowed values (not max_step or cooldown, which need live state).
func (g Guardrail) checkBounds(v string) error {
	if len(g.Allowed) > 0 && !slices.Contains(g.Allowed, v) {
		return fmt.Errorf("%s %q: the guardrail allows only %s", g.Key, v, quoteAll(g.Allowed))
	}
	var lo, hi int64
	switch builtins[g.Key].kind {
	case kindPortList:
		return nil
	case kindPortRange:
		f := strings.Fields(v)
		if len(f) != 2 {
			return nil // CheckValue reports it
		}
		lo, _ = strconv.ParseInt(f[0], 10, 64)
		hi, _ = strconv.ParseInt(f[1], 10, 64)
	default:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil
		}
		lo, hi = n, n
	}
	if g.Min != nil && lo < *g.Min {
		return fmt.Errorf("%s %q: below the guardrail's min %d", g.Key, v, *g.Min)
	}
	if g.Max != nil && hi > *g.Max {
		return fmt.Errorf("%s %q: above the guardrail's max %d", g.Key, v, *g.Max)
	}
	return nil
}

// CheckValue checks a value against the built-in guardrails of its key
// (the package's CheckValue, allowing a privileged low where the set's
// guardrail does) and the bounds of the set's guardrail: min, max and
// allowed. max_step and cooldown need the applied history and are not
// checked here.
func (s *Set) CheckValue(key, value string) error {
	g, declared := s.Guardrails[key]
	if err := checkValue(key, value, declared && g.AllowPrivilegedLow); err != nil {
		return err
	}
	if declared {
		return g.checkBounds(NormalizeValue(value))
	}
	return nil
}

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// valueString turns the value of a set block into the sysctl's normalized
// text: a string as written, a whole number in decimal, an object with low
// and high or a two-element list as "low high".
func valueString(v cty.Value) (string, error) {
	if v.IsNull() {
		return "", errors.New("is null")
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return NormalizeValue(v.AsString()), nil
	case t == cty.Number:
		n, err := intArg(v)
		if err != nil {
			return "", fmt.Errorf("must be a whole number: %v", err)
		}
		return strconv.FormatInt(n, 10), nil
	case t.IsObjectType() && t.HasAttribute("low") && t.HasAttribute("high"),
		(t.IsListType() || t.IsTupleType()) && v.LengthInt() == 2:
		r, err := portRangeArg(v)
		if err != nil {
			return "", errors.New(`must be a port range "low high"`)
		}
		return r.String(), nil
	}
	return "", fmt.Errorf(`must be a string or a number, not a %s`, t.FriendlyName())
}
