package policies

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// Evaluate runs every rule against one observation and returns the rules
// that fired, in evaluation order, with the values they propose. A rule
// that fails to evaluate is reported in the diagnostics and skipped; the
// others still run.
//
// Rules only propose: whether a value may be written — the registry's
// bounds, the policy's guardrails, cooldowns, the live host — is decided
// by the guard when the plan is built, and a refused value is listed
// there with the guardrail that refused it.
func (s *Set) Evaluate(snap advisor.Snapshot, f advisor.Findings) ([]Recommendation, hcl.Diagnostics) {
	base := &hcl.EvalContext{Variables: variables(snap, f), Functions: s.functions(snap.Sysctls)}
	var recs []Recommendation
	var diags hcl.Diagnostics
	contexts := map[*file]*hcl.EvalContext{}
	for _, r := range s.Rules {
		ctx, ok := contexts[r.file]
		if !ok {
			var d hcl.Diagnostics
			ctx, d = r.file.locals.evaluate(base)
			diags = append(diags, d...)
			contexts[r.file] = ctx
		}
		rec, d := evalRule(r, ctx)
		diags = append(diags, d...)
		if rec != nil {
			recs = append(recs, *rec)
		}
	}
	return recs, diags
}

func evalRule(r *Rule, ctx *hcl.EvalContext) (*Recommendation, hcl.Diagnostics) {
	fire, diags := evalAs(r.when, ctx, cty.Bool, "when")
	if diags.HasErrors() || !fire.True() {
		return nil, diags
	}
	rec := &Recommendation{Rule: r.Name, Topic: r.Topic, Severity: advisor.SeverityWarning, Source: r.Source, Changes: []Change{}}
	if r.severity != nil {
		v, d := evalAs(r.severity, ctx, cty.String, "severity")
		diags = append(diags, d...)
		if d.HasErrors() {
			return nil, diags
		}
		if err := checkSeverity(v.AsString()); err != nil {
			return nil, append(diags, exprError(r.severity, "Invalid severity", err.Error()+"."))
		}
		rec.Severity = advisor.Severity(v.AsString())
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
	for _, a := range r.sets {
		v, d := evalAs(a.value, ctx, cty.DynamicPseudoType, "the value of "+a.key)
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
		rec.Changes = append(rec.Changes, Change{Key: a.key, Value: val})
	}
	rec.Message = strings.TrimSpace(rec.Summary + " " + rec.Advice)
	return rec, diags
}

// evalAs evaluates expr and converts the result to want; a null or unknown
// result is an error, never a panic.
func evalAs(expr hcl.Expression, ctx *hcl.EvalContext, want cty.Type, name string) (cty.Value, hcl.Diagnostics) {
	if diags := divisionByZero(expr, ctx); diags.HasErrors() {
		return cty.NilVal, diags
	}
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
	if want == cty.DynamicPseudoType {
		return v, diags
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
