package policies

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// checkNesting rejects a file whose brackets, braces, parentheses, quotes
// or template interpolations nest deeper than maxNesting, before the
// parser, which recurses on each level, sees it. The parser also recurses
// once for each unary ! or -, so a run of them (newlines and comments in
// between do not end it) counts towards the depth as well. The lexer it
// uses is a flat scanner.
func checkNesting(src []byte, name string) *hcl.Diagnostic {
	depth, unary := 0, 0
	toks, _ := hclsyntax.LexConfig(src, name, hcl.InitialPos) // the parser reports lexing errors
	for _, tok := range toks {
		switch tok.Type {
		case hclsyntax.TokenNewline, hclsyntax.TokenComment:
			continue
		case hclsyntax.TokenBang, hclsyntax.TokenMinus:
			unary++
			if depth+unary > maxNesting {
				return nestedTooDeeply(tok.Range, fmt.Sprintf("More than %d levels of nesting and ! or - operators in a row here; no policy needs that many.", maxNesting))
			}
			continue
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen,
			hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl, hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc:
			depth++
			if depth > maxNesting {
				return nestedTooDeeply(tok.Range, fmt.Sprintf("Expressions and blocks nest more than %d levels deep here; no policy needs that many.", maxNesting))
			}
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen,
			hclsyntax.TokenTemplateSeqEnd, hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc:
			depth = max(depth-1, 0)
		}
		unary = 0
	}
	return nil
}

// nestedTooDeeply is checkNesting's error at rng.
func nestedTooDeeply(rng hcl.Range, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Nested too deeply", Detail: detail, Subject: rng.Ptr()}
}

// divisionByZero reports each division or remainder by zero that evaluating
// expr in ctx would perform. HCL's arithmetic turns x / 0 into infinity and
// x % 0 into x without a word, and a rule acting on such a number would act
// on nonsense. Only the branch of a conditional that its condition selects
// is followed, so `x > 0 ? y / x : 0` is fine. The bodies of for
// expressions, which read their own iteration variables, are not followed.
func divisionByZero(expr hcl.Expression, ctx *hcl.EvalContext) hcl.Diagnostics {
	return walkDivisions(expr, ctx).diags
}

// walkDivisions walks expr once for divisionByZero.
func walkDivisions(expr hcl.Expression, ctx *hcl.EvalContext) *zeroDivisions {
	w := &zeroDivisions{ctx: ctx, unselected: map[hclsyntax.Expression]bool{}}
	if se, ok := expr.(hclsyntax.Expression); ok {
		hclsyntax.Walk(se, w)
	}
	return w
}

// zeroDivisions is divisionByZero's one walk over an expression: Enter
// decides what to follow, Exit checks each division after its operands.
type zeroDivisions struct {
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
	// unselected holds the conditional branches their conditions rule
	// out; skipping counts the levels entered below one of them, or below
	// a node that is not an expression.
	unselected map[hclsyntax.Expression]bool
	skipping   int
	// visits counts the expressions followed.
	visits int
}

func (w *zeroDivisions) Enter(n hclsyntax.Node) hcl.Diagnostics {
	e, ok := n.(hclsyntax.Expression)
	if w.skipping > 0 || !ok || w.unselected[e] {
		w.skipping++
		return nil
	}
	w.visits++
	if c, ok := e.(*hclsyntax.ConditionalExpr); ok {
		v, d := c.Condition.Value(w.ctx)
		if !d.HasErrors() && v.IsKnown() && !v.IsNull() && v.Type() == cty.Bool {
			if v.True() {
				w.unselected[c.FalseResult] = true
			} else {
				w.unselected[c.TrueResult] = true
			}
		}
	}
	return nil
}

func (w *zeroDivisions) Exit(n hclsyntax.Node) hcl.Diagnostics {
	if w.skipping > 0 {
		w.skipping--
		return nil
	}
	e, ok := n.(*hclsyntax.BinaryOpExpr)
	if !ok || (e.Op != hclsyntax.OpDivide && e.Op != hclsyntax.OpModulo) {
		return nil
	}
	v, d := e.RHS.Value(w.ctx)
	if d.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.Number {
		return nil
	}
	if v.Equals(cty.Zero).True() {
		w.diags = append(w.diags, &hcl.Diagnostic{
			Severity:    hcl.DiagError,
			Summary:     "Division by zero",
			Detail:      "The divisor is 0 for this observation; guard it, for example with max(divisor, 1) or a condition.",
			Subject:     e.Range().Ptr(),
			Expression:  e,
			EvalContext: w.ctx,
		})
	}
	return nil
}
