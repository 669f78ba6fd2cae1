package policies

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// agent decodes an agent block and merges it into the settings: each
// attribute it sets overrides what earlier blocks set, the way a later
// sysctl.d file overrides a key.
func (l *loader) agent(b *block) {
	var c agentBody
	l.diags = append(l.diags, gohcl.DecodeBody(b.Body, nil, &c)...)
	st := &l.set.Settings
	st.Sources = append(st.Sources, b.DefRange)
	if a := c.Mode; a != nil {
		if v, ok := l.constant(a, cty.String); ok {
			switch m := advisor.Mode(v.AsString()); m {
			case advisor.ModeDryRun, advisor.ModeEnforce:
				st.Mode = m
			default:
				l.errorf(a.Expr.Range(), "Invalid mode", "mode %q: want %q or %q.", m, advisor.ModeDryRun, advisor.ModeEnforce)
			}
		}
	}
	if a := c.Interval; a != nil {
		if d, ok := l.duration(a); ok {
			if d < time.Second {
				l.errorf(a.Expr.Range(), "Invalid interval", "interval %s: want 1s or more.", d)
			} else {
				st.Interval = d
			}
		}
	}
	if a := c.Persist; a != nil {
		if v, ok := l.constant(a, cty.Bool); ok {
			st.Persist = v.True()
		}
	}
	if a := c.PersistPath; a != nil {
		if v, ok := l.constant(a, cty.String); ok {
			if err := CheckPersistPath(v.AsString()); err != nil {
				l.errorf(a.Expr.Range(), "Invalid persist_path", "%s.", err)
			} else {
				st.PersistPath = v.AsString()
			}
		}
	}
	if a := c.EnforceNamespaces; a != nil {
		if v, ok := l.constant(a, cty.List(cty.String)); ok {
			var globs []string
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				if e.IsNull() {
					l.errorf(a.Expr.Range(), "Invalid pattern", "enforce_namespaces holds a null.")
					continue
				}
				g := e.AsString()
				if _, err := path.Match(g, ""); err != nil || g == "" {
					l.errorf(a.Expr.Range(), "Invalid pattern", "enforce_namespaces: %q is not a glob pattern.", g)
					continue
				}
				globs = append(globs, g)
			}
			st.EnforceNamespaces = globs
		}
	}
	// defaults was read before any layer was merged (defaultsWanted).
}

// CheckPersistPath reports whether p may name the sysctl.d drop-in: a
// clean absolute path of a *.conf file directly in /etc/sysctl.d, the
// directory systemd-sysctl reads at boot.
func CheckPersistPath(p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || filepath.Dir(p) != PersistDir ||
		!strings.HasSuffix(p, ".conf") || filepath.Base(p) == ".conf" {
		return fmt.Errorf("persist_path %q: want a *.conf file directly in %s, such as %q", p, PersistDir, DefaultPersistPath)
	}
	return nil
}

// duration evaluates an attribute holding a duration: a string such as
// "90s" or "5m", or a number of seconds.
func (l *loader) duration(a *hcl.Attribute) (time.Duration, bool) {
	v, ok := l.constant(a, cty.DynamicPseudoType)
	if !ok {
		return 0, false
	}
	if v.Type() != cty.String && v.Type() != cty.Number {
		l.errorf(a.Expr.Range(), "Wrong type", `%s must be a duration such as "30s" or "5m".`, a.Name)
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

// guardrail decodes a guardrail block and merges it into the set. Its
// bounds may only tighten the registry's: a guardrail never lets a rule do
// more than tcp-advisor does with no policy at all.
func (l *loader) guardrail(b *block) {
	key, keyRange := b.Label, b.LabelRange
	if err := advisor.CheckSettable(key); err != nil {
		l.errorf(keyRange, "Key not allowed", "%s.", err)
		return
	}
	var c guardrailBody
	diags := gohcl.DecodeBody(b.Body, nil, &c)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return
	}
	reg, _ := advisor.LookupSysctl(key)
	isRange, isList := reg.Kind == advisor.KindPortRange, reg.Kind == advisor.KindPortList
	g := Guardrail{Key: key, Sources: []hcl.Range{b.DefRange}, BoundSources: map[string]hcl.Range{}}
	for _, a := range present(&c) {
		g.BoundSources[a.Name] = b.DefRange
	}
	ok := true
	bad := func(a *hcl.Attribute, summary, format string, args ...any) {
		l.errorf(a.Expr.Range(), summary, format, args...)
		ok = false
	}
	portRangeOnly := func(a *hcl.Attribute) bool {
		if !isRange {
			bad(a, "Not applicable", "%s applies to %s only.", a.Name, advisor.KeyPortRange)
		}
		return isRange
	}
	if a := c.AllowPrivilegedLow; a != nil && portRangeOnly(a) {
		if v, vok := l.constant(a, cty.Bool); vok {
			g.AllowPrivilegedLow = v.True()
		} else {
			ok = false
		}
	}
	effective, _ := builtInBounds(key, g.AllowPrivilegedLow)
	lowest := effective.Min
	bound := func(a *hcl.Attribute) (int64, bool) {
		v, vok := l.constantInt(a)
		switch {
		case !vok:
			ok = false
		case v < lowest:
			why := ""
			if isRange && !g.AllowPrivilegedLow {
				why = " (set allow_privileged_low = true to go below 1024)"
			}
			bad(a, "Guardrail loosens a built-in", "%s = %d is below the built-in bound %d of %s%s; a policy can only tighten built-in guardrails.", a.Name, v, lowest, key, why)
		case v > reg.Max:
			bad(a, "Guardrail loosens a built-in", "%s = %d is above the built-in bound %d of %s; a policy can only tighten built-in guardrails.", a.Name, v, reg.Max, key)
		default:
			return v, true
		}
		return 0, false
	}
	for _, a := range []*hcl.Attribute{c.Min, c.Max} {
		if a == nil {
			continue
		}
		if isList {
			bad(a, "Not applicable", "%s does not apply to %s, a list of ports.", a.Name, key)
			continue
		}
		if v, vok := bound(a); vok && a == c.Min {
			g.Min = &v
		} else if vok {
			g.Max = &v
		}
	}
	if g.Min != nil && g.Max != nil && *g.Min > *g.Max {
		bad(c.Min, "Invalid guardrail", "min %d is above max %d.", *g.Min, *g.Max)
	}
	if a := c.LowFloor; a != nil && portRangeOnly(a) {
		if v, vok := bound(a); vok {
			if g.Min != nil && v < *g.Min {
				bad(a, "Invalid guardrail", "low_floor %d is below min %d, the lowest low the guardrail allows.", v, *g.Min)
			} else {
				g.LowFloor = &v
			}
		}
	}
	if a := c.MaxStep; a != nil {
		if v, vok := l.constantInt(a); !vok {
			ok = false
		} else if isList {
			bad(a, "Not applicable", "max_step does not apply to %s, a list of ports.", key)
		} else if v < 1 {
			bad(a, "Invalid guardrail", "max_step must be 1 or more.")
		} else {
			g.MaxStep = &v
		}
	}
	if a := c.Cooldown; a != nil {
		if d, dok := l.duration(a); dok {
			g.Cooldown = d
		} else {
			ok = false
		}
	}
	if a := c.Allowed; a != nil {
		v, vok := l.constant(a, cty.DynamicPseudoType)
		if !vok {
			ok = false
		} else if t := v.Type(); !(t.IsTupleType() || t.IsListType() || t.IsSetType()) || v.LengthInt() == 0 {
			bad(a, "Wrong type", `allowed must be a non-empty list of values, such as ["0", "1"].`)
		} else {
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				s, err := valueString(e)
				if err == nil {
					err = reg.Check(s)
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
	if a := c.Reserve; a != nil && portRangeOnly(a) {
		if ports, pok := l.portList(a); pok {
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
		l.errorf(b.DefRange, "Conflicting guardrails", "%s conflicts with the guardrail declared at %s: %s.", key, prev.Source(), err)
		return
	}
	l.set.Guardrails[key] = m
}

// portList evaluates an attribute holding ports and port ranges, such as
// reserve = [8443, "30000-32767"]. An element that is not a port or a
// range is reported at its own position when the list is written out.
func (l *loader) portList(a *hcl.Attribute) (advisor.PortSet, bool) {
	v, ok := l.constant(a, cty.DynamicPseudoType)
	if !ok {
		return nil, false
	}
	t := v.Type()
	if !(t.IsTupleType() || t.IsListType() || t.IsSetType()) {
		l.errorf(a.Expr.Range(), "Wrong type", `%s must be a list of ports and ranges, such as [8443, "30000-32767"].`, a.Name)
		return nil, false
	}
	var elems []hclsyntax.Expression
	if tc, isTuple := a.Expr.(*hclsyntax.TupleConsExpr); isTuple && len(tc.Exprs) == v.LengthInt() {
		elems = tc.Exprs
	}
	var set advisor.PortSet
	i := 0
	for it := v.ElementIterator(); it.Next(); i++ {
		_, e := it.Element()
		rng := a.Expr.Range()
		if elems != nil {
			rng = elems[i].Range()
		}
		ports, err := portElement(e)
		if err != nil {
			l.errorf(rng, "Invalid guardrail", "%s: %s.", a.Name, err)
			ok = false
			continue
		}
		set = append(set, ports)
	}
	return advisor.PortSet{}.Union(set), ok
}

// portElement reads one element of a port list: a number, or a string
// holding a port or a range "low-high".
func portElement(e cty.Value) (advisor.PortRange, error) {
	if e.IsNull() || !e.IsKnown() {
		return advisor.PortRange{}, errors.New("want a port or a range")
	}
	if e.Type() == cty.String {
		s := strings.TrimSpace(e.AsString())
		set, err := advisor.ParsePortSet(s)
		if err != nil || len(set) != 1 || strings.Contains(s, ",") {
			return advisor.PortRange{}, fmt.Errorf("%q is not a port or a range such as \"30000-32767\"", s)
		}
		if set[0].Low < 1 {
			return advisor.PortRange{}, fmt.Errorf("%q: ports run from 1 to 65535", s)
		}
		return set[0], nil
	}
	n, err := intArg(e)
	if err == nil && (n < 1 || n > 65535) {
		err = fmt.Errorf("%d is not a port number from 1 to 65535", n)
	}
	if err != nil {
		return advisor.PortRange{}, err
	}
	return advisor.PortRange{Low: int(n), High: int(n)}, nil
}

// mergeGuardrails merges two guardrails for one key: the tighter bound of
// each kind wins, so adding a file can only restrict what rules may do.
// Reserved ports add up: every file's services keep their ports. The
// opt-in to lowering the port range's low end holds when any guardrail
// grants it, down to the highest floor any of them sets.
func mergeGuardrails(a, b Guardrail) (Guardrail, error) {
	m := a
	m.Sources = append(slices.Clone(a.Sources), b.Sources...)
	m.BoundSources = maps.Clone(a.BoundSources)
	from := func(attr string, took bool) {
		if r, ok := b.BoundSources[attr]; ok && took {
			m.BoundSources[attr] = r
		}
	}
	m.Reserve = a.Reserve.Union(b.Reserve)
	m.Min = pick(a.Min, b.Min, true)
	from("min", m.Min != a.Min)
	m.Max = pick(a.Max, b.Max, false)
	from("max", m.Max != a.Max)
	m.MaxStep = pick(a.MaxStep, b.MaxStep, false)
	from("max_step", m.MaxStep != a.MaxStep)
	m.LowFloor = pick(a.LowFloor, b.LowFloor, true)
	from("low_floor", m.LowFloor != a.LowFloor)
	m.Cooldown = max(a.Cooldown, b.Cooldown)
	from("cooldown", b.Cooldown > a.Cooldown)
	from("allowed", len(b.Allowed) > 0)
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
	if !m.AllowPrivilegedLow && a.Key == advisor.KeyPortRange {
		for _, v := range []*int64{m.Min, m.LowFloor} {
			if v != nil && *v < 1024 {
				return m, fmt.Errorf("%d needs allow_privileged_low in every guardrail for the key", *v)
			}
		}
	}
	return m, nil
}

// pick returns the larger (or smaller) of two optional bounds: the winning
// pointer itself, a on a tie, so that the caller can tell which one won.
func pick(a, b *int64, larger bool) *int64 {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case larger && *b > *a, !larger && *b < *a:
		return b
	}
	return a
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
		return advisor.NormalizeValue(v.AsString()), nil
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
