package metrics

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

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
