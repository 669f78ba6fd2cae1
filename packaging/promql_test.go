package packaging

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/tcp-advisor/tcp-advisor/advisor/metrics"
)

// exported is every metric family the agent can export.
func exported() map[string]bool {
	out := map[string]bool{}
	for _, n := range metrics.New(metrics.Options{}).FamilyNames() {
		out[n] = true
	}
	return out
}

var promql = parser.NewParser(parser.Options{})

// metricNames parses a PromQL expression and returns the metric names its
// selectors name; every selector must name one.
func metricNames(expr string) ([]string, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	var bad error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			bad = fmt.Errorf("selector %s names no metric", vs)
		}
		names = append(names, name)
		return nil
	})
	slices.Sort(names)
	return slices.Compact(names), bad
}

// checkExported fails the test for every metric an expression uses that the
// agent does not export.
func checkExported(t *testing.T, where, expr string, families map[string]bool) {
	t.Helper()
	names, err := metricNames(expr)
	if err != nil {
		t.Errorf("%s: %v\n  %s", where, err, expr)
		return
	}
	if len(names) == 0 {
		t.Errorf("%s: uses no metric: %s", where, expr)
	}
	for _, n := range names {
		if !families[n] {
			t.Errorf("%s: %s is not a metric tcp-advisor exports\n  %s", where, n, expr)
		}
	}
}

// promtoolCheckExprs has promtool parse expressions, by writing each as a
// recording rule of a scratch rules file and running `promtool check rules`.
func promtoolCheckExprs(t *testing.T, promtool string, exprs []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("groups:\n  - name: expressions\n    rules:\n")
	for i, e := range exprs {
		fmt.Fprintf(&b, "      - record: check:expression_%d\n        expr: %q\n", i, e)
	}
	path := filepath.Join(t.TempDir(), "expressions.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check rules on the expressions: %v\n%s\n%s", err, out, b.String())
	}
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(exprs)); !strings.Contains(string(out), want) {
		t.Errorf("promtool check rules: want %q in\n%s", want, out)
	}
}
