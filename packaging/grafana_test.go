package packaging

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

const dashboardFile = "grafana/tcp-advisor.json"

// gPanel is the part of a Grafana panel the tests read.
type gPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		Datasource json.RawMessage `json:"datasource"`
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
	} `json:"targets"`
	Panels []gPanel `json:"panels"` // a collapsed row's
}

type gDashboard struct {
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	SchemaVersion int      `json:"schemaVersion"`
	Panels        []gPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource json.RawMessage `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name string `json:"name"`
			Expr string `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
}

func readDashboard(t *testing.T) gDashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d gDashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows.
func allPanels(ps []gPanel) []gPanel {
	var out []gPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// grafanaVars are what Grafana substitutes before a query reaches
// Prometheus, with values of the right kind.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$__interval", "1m",
	"$__range", "6h",
	"$instance", ".+",
	"$netns", ".*",
	"$container", ".*",
)

// labelValuesRE matches a template variable query label_values(selector, label).
var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// dashboardQueries returns every PromQL expression of the dashboard, with
// where it is: panel targets, annotations and the selectors of template
// variable queries.
func dashboardQueries(t *testing.T, d gDashboard) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			out[fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID)] = grafanaVars.Replace(tg.Expr)
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			out["annotation "+a.Name] = grafanaVars.Replace(a.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: query: %v", v.Name, err)
		}
		m := labelValuesRE.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q.Query)
			continue
		}
		out["variable "+v.Name] = grafanaVars.Replace(m[1])
	}
	return out
}

// TestDashboardQueries: every query parses — with the PromQL parser and
// with promtool, i.e. Debian's Prometheus — and names only metrics the
// agent exports.
func TestDashboardQueries(t *testing.T) {
	d := readDashboard(t)
	queries := dashboardQueries(t, d)
	if len(queries) < 20 {
		t.Fatalf("only %d queries found", len(queries))
	}
	families := exported()
	var exprs []string
	for where, expr := range queries {
		if strings.Contains(expr, "$") {
			t.Errorf("%s: unknown template variable in %s", where, expr)
		}
		checkExported(t, where, expr, families)
		exprs = append(exprs, expr)
	}
	slices.Sort(exprs)
	promtoolCheckExprs(t, testbin.Tool(t, "promtool", "prometheus"), exprs)
}

// TestDashboardImportable checks what Grafana needs to import the file as
// it is: a uid, unique panel ids, panels inside the 24-column grid, a data
// source variable every query uses, and the instance variable.
func TestDashboardImportable(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("uid %q, title %q, schemaVersion %d: all are needed", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["instance"] != "query" {
		t.Errorf("template variables %v: want datasource (datasource) and instance (query)", vars)
	}
	const ds = `{"type":"prometheus","uid":"${datasource}"}`
	compact := func(raw json.RawMessage) string {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return string(raw)
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	ids := map[int]bool{}
	for _, p := range allPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %d %q: gridPos %+v outside the 24-column grid", p.ID, p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if got := compact(p.Datasource); got != ds {
			t.Errorf("panel %d %q: datasource %s, want %s", p.ID, p.Title, got, ds)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %d %q has no query", p.ID, p.Title)
		}
		for _, tg := range p.Targets {
			if got := compact(tg.Datasource); got != ds {
				t.Errorf("panel %d %q target %s: datasource %s", p.ID, p.Title, tg.RefID, got)
			}
			if !strings.Contains(tg.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %d %q target %s ignores the instance variable: %s", p.ID, p.Title, tg.RefID, tg.Expr)
			}
		}
	}
	// The views the dashboard is for.
	var titles []string
	for _, p := range allPanels(d.Panels) {
		titles = append(titles, p.Title)
	}
	for _, want := range []string{"Worst destination utilization per host", "Changes applied", "Policy sets in force",
		"Destination utilization", "CLOSE_WAIT sockets by owner", "Tick duration", "Since the last successful tick"} {
		if !slices.Contains(titles, want) {
			t.Errorf("no panel %q", want)
		}
	}
}

// TestDashboardNamespaceVariables: the netns and container variables
// exist, and every selector of a family labelled by namespace (all but the
// agent-wide ones) honours them, so picking a container narrows every
// panel to it.
func TestDashboardNamespaceVariables(t *testing.T) {
	d := readDashboard(t)
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type == "query"
	}
	if !vars["netns"] || !vars["container"] {
		t.Fatalf("template variables %v: want netns and container queries", vars)
	}
	agentWide := regexp.MustCompile(`^tcp_advisor_(policy_info|policy_load_success|tick_interval_seconds|build_info|process_.*|go_.*)$`)
	withoutContainer := regexp.MustCompile(`^tcp_advisor_(recommendations|changes|refusals)_total$`)
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			e, err := promql.ParseExpr(grafanaVars.Replace(strings.NewReplacer(`"$netns"`, `"NETNS"`, `"$container"`, `"CONTAINER"`).Replace(tg.Expr)))
			if err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
				continue
			}
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				vs, ok := n.(*parser.VectorSelector)
				if !ok || agentWide.MatchString(vs.Name) {
					return nil
				}
				s := vs.String()
				if !strings.Contains(s, `netns=~"NETNS"`) {
					t.Errorf("panel %q: %s ignores the netns variable", p.Title, s)
				}
				if !withoutContainer.MatchString(vs.Name) && !strings.Contains(s, `container=~"CONTAINER"`) {
					t.Errorf("panel %q: %s ignores the container variable", p.Title, s)
				}
				return nil
			})
		}
	}
}
