package report

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/internal/doctable"
)

// TestReadmeJSON keeps README.md's table of diagnose's JSON keys the
// Diagnosis type's (`make docs` rewrites it).
func TestReadmeJSON(t *testing.T) {
	doctable.Check(t, "../../../README.md", "json", JSONMarkdown())
}

// TestJSONMarkdownListsEveryKey: every key diagnose's JSON has, at any
// depth, is in the generated table, so the table follows encoding/json.
func TestJSONMarkdownListsEveryKey(t *testing.T) {
	f, n := 1.0, 1
	d := Diagnosis{Findings: advisor.Findings{
		Destinations: []advisor.DestinationUse{{Owners: []advisor.OwnerCount{{LocalPort: 1, FDs: 1, FDLimit: 1, FDGrowthPerSecond: &f, SecondsToFDLimit: &f, Partial: true}},
			Openers: []advisor.Opener{{}}, GrowthPerSecond: &f}},
		Queues:    advisor.QueueFindings{Listeners: []advisor.ListenerQueue{{Owner: &advisor.Owner{}}}, SynQueues: []advisor.SynQueue{{}}},
		CloseWait: advisor.CloseWaitFindings{Stuck: &n, StuckSockets: []advisor.SocketID{{}}, ByRemote: []advisor.RemoteCount{{}}},
		Ports:     advisor.PortFindings{Sources: []advisor.SourceUse{{}}},
		Events:    advisor.EventFindings{Unavailable: "x"},
		Degraded:  []string{"x"},
	}, Verdicts: []Verdict{{Rule: "r", RuleSource: "s", Action: "a"}}}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	keyPaths(reflect.TypeFor[Diagnosis](), "", want)
	seen := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if path == "states" || path == "counts" || path == "sysctls" {
				return // maps: their keys are data
			}
			for k, sub := range v {
				p := strings.TrimPrefix(path+"."+k, ".")
				seen++
				if !want[p] {
					t.Errorf("the JSON table does not list %s", p)
				}
				walk(p, sub)
			}
		case []any:
			for _, sub := range v {
				walk(path, sub)
			}
		}
	}
	walk("", doc)
	if seen < 100 {
		t.Errorf("only %d keys compared", seen)
	}
}

// keyPaths adds the dotted paths of the keys JSONMarkdown lists for t.
func keyPaths(t reflect.Type, prefix string, out map[string]bool) {
	t = deref(t)
	if t.Kind() == reflect.Slice {
		t = deref(t.Elem())
	}
	if t.Kind() != reflect.Struct || isLeaf(t) {
		return
	}
	for _, f := range jsonFields(t) {
		p := strings.TrimPrefix(prefix+"."+jsonKey(f), ".")
		out[p] = true
		keyPaths(f.Type, p, out)
	}
}
