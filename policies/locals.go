package policies

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// locals are one file's named expressions, declared in `locals { ... }`
// blocks and read as local.NAME by the file's rules and other locals, so a
// rule can name a condition once and use it in when, message and advice.
// Locals may read the observation and each other, never in a cycle.
type locals struct {
	attrs map[string]*hcl.Attribute
	// order lists the names so that each comes after those it reads.
	order []string
	// static holds each local evaluated against unknown observations:
	// its type, for load-time checks of the expressions that read it.
	static map[string]cty.Value
	// staticContext is the evaluation context of load-time checks: unknown
	// observations and the locals typed so far (see typeStatic).
	staticContext *hcl.EvalContext
}

// locals decodes a file's locals blocks, rejects duplicates and cycles, and
// type-checks them.
func (l *loader) locals(f *file) *locals {
	lc := &locals{attrs: map[string]*hcl.Attribute{}, static: map[string]cty.Value{},
		staticContext: &hcl.EvalContext{Variables: maps.Clone(unknownVariables), Functions: l.staticFunctions}}
	for _, b := range f.blocks {
		if b.Type != "locals" {
			continue
		}
		attrs, diags := b.Body.JustAttributes()
		l.diags = append(l.diags, diags...)
		for _, name := range slices.Sorted(maps.Keys(attrs)) {
			a := attrs[name]
			if prev, dup := lc.attrs[name]; dup {
				l.errorf(a.NameRange, "Duplicate local", "local.%s is already declared at %s.", name, RangeString(prev.NameRange))
				continue
			}
			lc.attrs[name] = a
		}
	}
	order, d := lc.sort()
	if d != nil {
		l.diags = append(l.diags, d)
		lc.attrs = map[string]*hcl.Attribute{}
	}
	lc.order = order
	lc.typeStatic()
	for _, name := range lc.order {
		a := lc.attrs[name]
		ok := true
		for _, tr := range a.Expr.Variables() {
			if d := lc.checkTraversal(tr); d != nil {
				l.diags = append(l.diags, d)
				ok = false
			}
		}
		v := cty.DynamicVal
		if ok {
			var diags hcl.Diagnostics
			if v, diags = a.Expr.Value(lc.staticContext); diags.HasErrors() {
				l.diags = append(l.diags, diags...)
				v = cty.DynamicVal
			}
		}
		lc.static[name] = v
		lc.typeStatic()
	}
	return lc
}

// deps returns the locals an expression reads.
func deps(expr hcl.Expression) []string {
	var out []string
	for _, tr := range expr.Variables() {
		if tr.RootName() != "local" || len(tr) < 2 {
			continue
		}
		if a, ok := tr[1].(hcl.TraverseAttr); ok {
			out = append(out, a.Name)
		}
	}
	return out
}

// sort orders the locals so each follows the ones it reads, or reports the
// first cycle it finds.
func (lc *locals) sort() ([]string, *hcl.Diagnostic) {
	const (
		unseen = iota
		visiting
		done
	)
	state := map[string]int{}
	var order []string
	var path []string
	var visit func(name string) *hcl.Diagnostic
	visit = func(name string) *hcl.Diagnostic {
		switch state[name] {
		case done:
			return nil
		case visiting:
			i := slices.Index(path, name)
			cycle := append(slices.Clone(path[i:]), name)
			return &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Recursive locals",
				Detail:   fmt.Sprintf("The locals read each other in a cycle: %s.", "local."+strings.Join(cycle, " → local.")),
				Subject:  lc.attrs[name].NameRange.Ptr(),
			}
		}
		state[name] = visiting
		path = append(path, name)
		for _, d := range deps(lc.attrs[name].Expr) {
			if _, ok := lc.attrs[d]; ok {
				if diag := visit(d); diag != nil {
					return diag
				}
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		order = append(order, name)
		return nil
	}
	names := slices.Sorted(maps.Keys(lc.attrs))
	for _, n := range names {
		if d := visit(n); d != nil {
			return nil, d
		}
	}
	return order, nil
}

// checkTraversal checks a reference against the observation schema and
// the file's locals.
func (lc *locals) checkTraversal(tr hcl.Traversal) *hcl.Diagnostic {
	if tr.RootName() != "local" {
		return checkObservation(tr)
	}
	if len(tr) < 2 {
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid local", Detail: "Name a local: local.NAME.", Subject: tr[0].SourceRange().Ptr()}
	}
	a, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid local", Detail: "Name a local: local.NAME.", Subject: tr[1].SourceRange().Ptr()}
	}
	if _, ok := lc.attrs[a.Name]; !ok {
		names := slices.Sorted(maps.Keys(lc.attrs))
		known := "This file declares no locals."
		if len(names) > 0 {
			known = "This file's locals are: " + strings.Join(names, ", ") + "."
		}
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown local",
			Detail:   fmt.Sprintf("There is no local %q in this file%s. Locals are visible only in the file that declares them. %s", a.Name, suggest(a.Name, names), known),
			Subject:  a.SrcRange.Ptr(),
		}
	}
	if v, ok := lc.static[a.Name]; ok && v.Type() != cty.DynamicPseudoType {
		return checkAttributes("local."+a.Name, v.Type(), tr[2:])
	}
	return nil
}

// typeStatic sets local in the static context: each local typed so far as
// an unknown value of its type, the others of any type.
func (lc *locals) typeStatic() {
	vals := map[string]cty.Value{}
	for n := range lc.attrs {
		if v, ok := lc.static[n]; ok {
			vals[n] = cty.UnknownVal(v.Type())
		} else {
			vals[n] = cty.DynamicVal
		}
	}
	lc.staticContext.Variables["local"] = cty.ObjectVal(vals)
}

// evaluate computes the locals against one observation: base holds the
// observation and functions. A local that fails is reported and reads as
// unknown, so the rules that use it fail too while the others run.
func (lc *locals) evaluate(base *hcl.EvalContext) (*hcl.EvalContext, hcl.Diagnostics) {
	if len(lc.attrs) == 0 {
		return base, nil
	}
	var diags hcl.Diagnostics
	vals := map[string]cty.Value{}
	for n := range lc.attrs {
		vals[n] = cty.DynamicVal
	}
	ctx := base.NewChild()
	ctx.Variables = map[string]cty.Value{"local": cty.ObjectVal(vals)}
	for _, n := range lc.order {
		expr := lc.attrs[n].Expr
		d := divisionByZero(expr, ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		v, d := expr.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		vals[n] = v
		ctx.Variables["local"] = cty.ObjectVal(vals)
	}
	return ctx, diags
}
