package metrics

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/internal/doctable"
)

// TestReadmeFamilies keeps README.md's Metrics table the families' own
// (`make docs` rewrites it).
func TestReadmeFamilies(t *testing.T) {
	doctable.Check(t, "../../README.md", "metrics", FamiliesMarkdown())
}

// TestReadmeListsEveryFamily: README.md's Metrics table names every family
// the agent exports (the Go and process collectors as a prefix), and no
// family that does not exist.
func TestReadmeListsEveryFamily(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	start := strings.Index(readme, "\n## Metrics\n")
	if start < 0 {
		t.Fatal("README.md has no Metrics section")
	}
	section := readme[start+1:]
	if end := strings.Index(section[1:], "\n## "); end >= 0 {
		section = section[:end+1]
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `("+Namespace+"_[a-z0-9_]+)`").FindAllStringSubmatch(section, -1) {
		listed[m[1]] = true
	}
	for _, name := range New(Options{}).FamilyNames() {
		if strings.HasPrefix(name, Namespace+"_go_") || strings.HasPrefix(name, Namespace+"_process_") {
			continue
		}
		if !listed[name] {
			t.Errorf("README.md's Metrics table does not list %s", name)
		}
		delete(listed, name)
	}
	for name := range listed {
		t.Errorf("README.md lists %s, which the agent does not export", name)
	}
	for _, prefix := range []string{Namespace + "_go_*", Namespace + "_process_*"} {
		if !strings.Contains(section, "`"+prefix+"`") {
			t.Errorf("README.md's Metrics section does not mention %s", prefix)
		}
	}
}

// TestFamiliesNamedAfterFigures: a family that exports a rule variable (or
// a JSON key rules do not have) is named after it (one figure, one name):
// its name ends with the figure's last attribute, a Prometheus unit suffix
// aside, and the figure exists in advisor.View or advisor.Findings' JSON. The families otherNames lists are the
// exceptions: each has a reason and figures that exist, and is not named
// after its figure (else it belongs in figures).
func TestFamiliesNamedAfterFigures(t *testing.T) {
	names := map[string]bool{}
	for _, f := range slices.Concat(tickFamilies, actionFamilies) {
		names[f.name] = true
	}
	for name, figure := range figures {
		if !names[name] {
			t.Errorf("figures names %s, which is no family", name)
		}
		if !isFigure(figure) {
			t.Errorf("%s exports %s, which is neither a rule variable nor a JSON key", name, figure)
		}
		if !namedAfter(name, figure) {
			t.Errorf("%s exports %s: its name should end in %s (and a unit)", name, figure, lastAttr(figure))
		}
	}
	for name, o := range otherNames {
		if !names[name] {
			t.Errorf("otherNames names %s, which is no family", name)
		}
		if _, ok := figures[name]; ok {
			t.Errorf("%s is in figures and otherNames", name)
		}
		if o.why == "" || len(o.figures) == 0 {
			t.Errorf("%s: an exception needs its figures and its reason", name)
		}
		for _, f := range o.figures {
			if !isFigure(f.path) {
				t.Errorf("%s exports %s, which is neither a rule variable nor a JSON key", name, f.path)
			}
			if namedAfter(name, f.path) {
				t.Errorf("%s is named after %s: move it to figures", name, f.path)
			}
		}
	}
}

// isFigure is true for a rule variable's path or a JSON key's.
func isFigure(figure string) bool {
	path := strings.Split(figure, ".")
	return hasPath(reflect.TypeFor[advisor.View](), "cty", path) || hasPath(reflect.TypeFor[advisor.Findings](), "json", path)
}

// namedAfter is true when a family's name ends with the figure's last
// attribute, a Prometheus unit suffix aside.
func namedAfter(name, figure string) bool {
	attr := lastAttr(figure)
	named := strings.HasSuffix(name, attr)
	for _, unit := range []string{"_ratio", "_sockets", "_total"} {
		named = named || strings.HasSuffix(strings.TrimSuffix(name, unit), attr)
	}
	return named
}

func lastAttr(figure string) string { return figure[strings.LastIndex(figure, ".")+1:] }

// hasPath is true when path, attribute names in the struct tag key (cty
// or json), leads to a field of t.
func hasPath(t reflect.Type, key string, path []string) bool {
	if len(path) == 0 {
		return true
	}
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	attr, list := strings.CutSuffix(path[0], "[*]")
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get(key), ",")
		if name == attr && (!list || f.Type.Kind() == reflect.Slice) {
			return hasPath(f.Type, key, path[1:])
		}
	}
	return false
}
