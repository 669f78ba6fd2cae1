package policies

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// deepDivisions is an expression nested about as deep as a policy may
// nest, around thousands of divisions: two conditionals rule a division by
// zero out, one division by zero is left at the end.
var (
	deepDivisionsPrefix = strings.Repeat("(", 60) + strings.Repeat("n / 1 + ", 4000)
	deepDivisionsTail   = "(true ? n : n / 0) + (false ? n / 0 : n) + n / 0"
)

func deepDivisions(t testing.TB) (hclsyntax.Expression, *hcl.EvalContext) {
	t.Helper()
	src := deepDivisionsPrefix + deepDivisionsTail + strings.Repeat(")", 60)
	expr, diags := hclsyntax.ParseExpression([]byte(src), "deep.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return expr, &hcl.EvalContext{Variables: map[string]cty.Value{"n": cty.NumberIntVal(0)}}
}

// TestDivisionByZeroWalksOnce: the division check follows each expression
// node once, however deep the expression, and none of the branches its
// conditionals rule out.
func TestDivisionByZeroWalksOnce(t *testing.T) {
	expr, ctx := deepDivisions(t)
	nodes := 0
	hclsyntax.VisitAll(expr, func(n hclsyntax.Node) hcl.Diagnostics {
		if _, ok := n.(hclsyntax.Expression); ok {
			nodes++
		}
		return nil
	})
	const unselected = 2 * 3 // two `n / 0`: a division, a variable, a literal
	w := walkDivisions(expr, ctx)
	if w.visits != nodes-unselected {
		t.Errorf("followed %d expressions, want %d (%d nodes less %d in the unselected branches)", w.visits, nodes-unselected, nodes, unselected)
	}
	last := len(deepDivisionsPrefix) + len(deepDivisionsTail) - len("n / 0") + 1 // the column of the last division
	if len(w.diags) != 1 || w.diags[0].Subject.Start.Column != last {
		t.Errorf("diagnostics: %v", w.diags)
	}
}

func BenchmarkDivisionByZeroDeep(b *testing.B) {
	expr, ctx := deepDivisions(b)
	for b.Loop() {
		divisionByZero(expr, ctx)
	}
}
