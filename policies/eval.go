package policies

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Evaluate runs every rule against one observation and returns the rules
// that fired, in load order. A rule that fails to evaluate is reported in
// the diagnostics and skipped; the others still run.
//
// Changes are checked against the built-in guardrails and the policy's
// bounds (min, max, allowed); a change that breaks them is dropped with an
// error. max_step and cooldown need the history of applied changes and
// are remediate's, though widen_port_range and bounded already keep within
// max_step. A change to the value the host already has is dropped, and the
// message says so. When two rules set the same key, the first in load
// order wins and the later change is dropped with a warning.
func (s *Set) Evaluate(snap advisor.Snapshot, f advisor.Findings) ([]Recommendation, hcl.Diagnostics) {
	ctx := &hcl.EvalContext{Variables: variables(snap, f), Functions: s.functions(snap.Sysctls)}
	var recs []Recommendation
	var diags hcl.Diagnostics
	setBy := map[string]string{}
	for _, r := range s.Rules {
		rec, d := s.evalRule(r, ctx, snap.Sysctls)
		diags = append(diags, d...)
		if rec == nil {
			continue
		}
		kept := rec.Changes[:0]
		for i, c := range rec.Changes {
			if first, taken := setBy[c.Key]; taken {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  "Key already set by another rule",
					Detail:   fmt.Sprintf("Rule %q also sets %s, to %q; rule %q, earlier in load order, wins.", r.Name, c.Key, c.Value, first),
					Subject:  rec.changeRanges[i].Ptr(),
				})
				continue
			}
			setBy[c.Key] = r.Name
			kept = append(kept, c)
		}
		rec.Changes = kept
		recs = append(recs, rec.Recommendation)
	}
	return recs, diags
}

// evaluated is a recommendation with where each change came from.
type evaluated struct {
	Recommendation
	changeRanges []hcl.Range
}

func (s *Set) evalRule(r *Rule, ctx *hcl.EvalContext, sc advisor.Sysctls) (*evaluated, hcl.Diagnostics) {
	fire, diags := evalAs(r.when, ctx, cty.Bool, "when")
	if diags.HasErrors() || !fire.True() {
		return nil, diags
	}
	rec := &evaluated{Recommendation: Recommendation{Rule: r.Name, Severity: SeverityWarning, Range: r.Range, Changes: []Change{}}}
	if r.severity != nil {
		v, d := evalAs(r.severity, ctx, cty.String, "severity")
		diags = append(diags, d...)
		if d.HasErrors() {
			return nil, diags
		}
		if err := checkSeverity(v.AsString()); err != nil {
			return nil, append(diags, exprError(r.severity, "Invalid severity", err.Error()+"."))
		}
		rec.Severity = v.AsString()
	}
	for _, part := range []struct {
		expr hcl.Expression
		name string
		out  *string
	}{{r.message, "message", &rec.Summary}, {r.advice, "advice", &rec.Advice}} {
		if part.expr == nil {
			continue
		}
		v, d := evalAs(part.expr, ctx, cty.String, part.name)
		diags = append(diags, d...)
		if d.HasErrors() {
			return nil, diags
		}
		*part.out = strings.TrimSpace(v.AsString())
	}
	var notes []string
	for _, a := range r.sets {
		v, d := a.value.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if !v.IsWhollyKnown() {
			diags = append(diags, exprError(a.value, "Invalid value", fmt.Sprintf("The value of %s is unknown.", a.key)))
			continue
		}
		val, err := valueString(v)
		if err != nil {
			diags = append(diags, exprError(a.value, "Wrong type", fmt.Sprintf("The value of %s %s.", a.key, err)))
			continue
		}
		// A value the host already has writes nothing, so no guardrail
		// applies to it, even if the host is outside the guardrails.
		if cur, ok := currentValue(sc, a.key); ok && cur == val {
			notes = append(notes, fmt.Sprintf("%s is already %q: nothing to change", a.key, val))
			continue
		}
		if err := s.CheckValue(a.key, val); err != nil {
			diags = append(diags, exprError(a.value, "Value breaks a guardrail",
				fmt.Sprintf("Rule %q: %s; the change is dropped.", r.Name, err)))
			continue
		}
		rec.Changes = append(rec.Changes, Change{Key: a.key, Value: val})
		rec.changeRanges = append(rec.changeRanges, a.rng)
	}
	msg := strings.TrimSpace(rec.Summary + " " + rec.Advice)
	if len(notes) > 0 {
		msg = strings.TrimSpace(msg + " (" + strings.Join(notes, "; ") + ")")
	}
	rec.Message = msg
	return rec, diags
}

// evalAs evaluates expr and converts the result to want; a null or unknown
// result is an error, never a panic.
func evalAs(expr hcl.Expression, ctx *hcl.EvalContext, want cty.Type, name string) (cty.Value, hcl.Diagnostics) {
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	switch {
	case !v.IsKnown():
		return cty.NilVal, append(diags, exprError(expr, "Invalid value", fmt.Sprintf("%s is unknown.", name)))
	case v.IsNull():
		return cty.NilVal, append(diags, exprError(expr, "Invalid value", fmt.Sprintf("%s is null; it must be a %s.", name, want.FriendlyName())))
	}
	cv, err := convert.Convert(v, want)
	if err != nil {
		return cty.NilVal, append(diags, exprError(expr, "Wrong type",
			fmt.Sprintf("%s must be a %s, got %s: %s.", name, want.FriendlyName(), v.Type().FriendlyName(), err)))
	}
	if !cv.IsKnown() || cv.IsNull() {
		return cty.NilVal, append(diags, exprError(expr, "Invalid value", fmt.Sprintf("%s has no value.", name)))
	}
	return cv, diags
}

func exprError(expr hcl.Expression, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  expr.Range().Ptr(),
	}
}
