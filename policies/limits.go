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
// is followed, so `x > 0 ? y / x : 0` is fine.
func divisionByZero(expr hcl.Expression, ctx *hcl.EvalContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var walk func(e hclsyntax.Expression)
	walk = func(e hclsyntax.Expression) {
		switch e := e.(type) {
		case *hclsyntax.ConditionalExpr:
			walk(e.Condition)
			c, d := e.Condition.Value(ctx)
			if d.HasErrors() || !c.IsKnown() || c.IsNull() || c.Type() != cty.Bool {
				walk(e.TrueResult)
				walk(e.FalseResult)
				return
			}
			if c.True() {
				walk(e.TrueResult)
			} else {
				walk(e.FalseResult)
			}
			return
		case *hclsyntax.BinaryOpExpr:
			walk(e.LHS)
			walk(e.RHS)
			if e.Op != hclsyntax.OpDivide && e.Op != hclsyntax.OpModulo {
				return
			}
			v, d := e.RHS.Value(ctx)
			if d.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.Number {
				return
			}
			if v.Equals(cty.Zero).True() {
				diags = append(diags, &hcl.Diagnostic{
					Severity:    hcl.DiagError,
					Summary:     "Division by zero",
					Detail:      "The divisor is 0 for this observation; guard it, for example with max(divisor, 1) or a condition.",
					Subject:     e.Range().Ptr(),
					Expression:  e,
					EvalContext: ctx,
				})
			}
			return
		}
		// Every other node: follow its children.
		for _, child := range children(e) {
			walk(child)
		}
	}
	if se, ok := expr.(hclsyntax.Expression); ok {
		walk(se)
	}
	return diags
}

// children returns the direct sub-expressions of an expression.
func children(e hclsyntax.Expression) []hclsyntax.Expression {
	var out []hclsyntax.Expression
	_ = hclsyntax.Walk(e, &childCollector{root: e, out: &out})
	return out
}

// childCollector collects the expressions one level below root.
type childCollector struct {
	root  hclsyntax.Node
	depth int
	out   *[]hclsyntax.Expression
}

func (c *childCollector) Enter(n hclsyntax.Node) hcl.Diagnostics {
	c.depth++
	if c.depth == 2 {
		if e, ok := n.(hclsyntax.Expression); ok {
			*c.out = append(*c.out, e)
		}
	}
	return nil
}

func (c *childCollector) Exit(hclsyntax.Node) hcl.Diagnostics {
	c.depth--
	return nil
}
