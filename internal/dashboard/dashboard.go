// Package dashboard reads the metric families a Grafana dashboard's
// Prometheus queries name, for tests that check an agent exports them.
package dashboard

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"

	"github.com/prometheus/prometheus/promql/parser"
)

// grafanaVar is a template variable ($name or ${name}); Families replaces
// each with a value of a kind every place in a query accepts.
var grafanaVar = regexp.MustCompile(`\$\{?(__rate_interval|__interval|__range|[a-z_]+)\}?`)

// labelValues is a template variable's query, label_values(selector, label).
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// Families returns, sorted and once each, the metric names the panel
// targets and the template variables of the dashboard at path select.
func Families(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var names []string
	p := parser.NewParser(parser.Options{})
	queries := exprs(d.Panels)
	for _, v := range d.Templating.List {
		var q struct{ Query string }
		if v.Type != "query" || json.Unmarshal(v.Query, &q) != nil {
			continue // a data source variable's query is a plain string
		}
		if m := labelValues.FindStringSubmatch(q.Query); m != nil {
			queries = append(queries, m[1])
		}
	}
	for _, expr := range queries {
		e, err := p.ParseExpr(grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
			switch grafanaVar.FindStringSubmatch(v)[1] {
			case "__rate_interval", "__interval", "__range":
				return "5m"
			}
			return ".*"
		}))
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, expr, err)
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" {
				names = append(names, vs.Name)
			}
			return nil
		})
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// panel is what Families reads of a panel: its queries and, in a row, its
// panels.
type panel struct {
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// exprs lists the queries of panels and the panels they hold.
func exprs(ps []panel) []string {
	var out []string
	for _, p := range ps {
		for _, t := range p.Targets {
			if t.Expr != "" {
				out = append(out, t.Expr)
			}
		}
		out = append(out, exprs(p.Panels)...)
	}
	return out
}
