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

// TestFamiliesNamedAfterFigures: a family that exports a rule variable is
// named after it (one figure, one name): its name ends with the
// variable's last attribute, a Prometheus unit suffix aside, and the
// variable exists in advisor.View.
func TestFamiliesNamedAfterFigures(t *testing.T) {
	names := map[string]bool{}
	for _, f := range slices.Concat(tickFamilies, actionFamilies) {
		names[f.name] = true
	}
	for name, figure := range figures {
		if !names[name] {
			t.Errorf("figures names %s, which is no family", name)
		}
		if !viewHasPath(reflect.TypeFor[advisor.View](), strings.Split(figure, ".")) {
			t.Errorf("%s exports %s, which is no rule variable", name, figure)
		}
		attr := figure[strings.LastIndex(figure, ".")+1:]
		named := strings.HasSuffix(name, attr)
		for _, unit := range []string{"_ratio", "_sockets", "_total"} {
			named = named || strings.HasSuffix(strings.TrimSuffix(name, unit), attr)
		}
		if !named {
			t.Errorf("%s exports %s: its name should end in %s (and a unit)", name, figure, attr)
		}
	}
}

// viewHasPath is true when the cty attributes path lead to a field of t.
func viewHasPath(t reflect.Type, path []string) bool {
	if len(path) == 0 {
		return true
	}
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	attr, list := strings.CutSuffix(path[0], "[*]")
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("cty") == attr && (!list || f.Type.Kind() == reflect.Slice) {
			return viewHasPath(f.Type, path[1:])
		}
	}
	return false
}
