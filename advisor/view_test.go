package advisor

import (
	"cmp"
	"encoding"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// TestViewNamesMatchJSON: a figure has one name. Every attribute a rule
// reads (View, cty tags) is at the same path, with the same type, in the
// JSON of the findings (Findings, json tags, as encoding/json writes them),
// and every key of that JSON is an attribute at the same path; the only
// exceptions are viewOnly's and jsonOnly's, each with its reason
// (policies/README.md, "Variables and JSON").
func TestViewNamesMatchJSON(t *testing.T) {
	view, js := map[string]string{}, map[string]string{}
	ctyPaths(reflect.TypeFor[View](), "", view)
	jsonPaths(reflect.TypeFor[Findings](), "", js)
	used := map[string]bool{}
	for path, typ := range view {
		if jt, ok := js[path]; ok {
			// An HCL object of fixed attributes is a JSON map of its keys.
			if jt != typ && (typ != "object" || jt != "map") {
				t.Errorf("%s is a %s for rules and a %s in JSON", path, typ, jt)
			}
			continue
		}
		if parent, ok := mapParent(path, js); ok {
			used[parent] = true
			continue
		}
		if why := exception(viewOnly, path, used); why == "" {
			t.Errorf("rules read %s, which the JSON does not have at that path: rename one, or add it to viewOnly with the reason", path)
		}
	}
	for path := range js {
		if _, ok := view[path]; ok || used[path] {
			continue
		}
		if why := exception(jsonOnly, path, used); why == "" {
			t.Errorf("the JSON has %s, which rules do not read at that path: rename one, or add it to jsonOnly with the reason", path)
		}
	}
	for _, list := range []map[string]string{viewOnly, jsonOnly} {
		for pattern := range list {
			if !used[pattern] {
				t.Errorf("exception %s matches nothing: remove it", pattern)
			}
		}
	}
	if shared := len(view) - len(used); shared < 150 {
		t.Errorf("only %d paths shared: the walk no longer follows the types", shared)
	}
}

// viewOnly are the rule attributes the JSON has not, by path pattern (a
// final * matches any rest), with the reason. The JSON says null where a
// rule variable says 0 with a *_known companion, and a rule reads the
// first of a list where a JSON consumer indexes it.
var viewOnly = map[string]string{
	"*_known":                    "JSON says null instead; rules cannot test for null, so the view says 0 and false here",
	"*.known":                    "JSON says null for a missing worst",
	"worst.top_owner*":           "the first of owners: HCL has no safe [0] on an empty list",
	"destinations[*].top_owner*": "the first of owners",
	"worst.opener*":              "the opener that called connect() most, picked from openers",
	"destinations[*].opener*":    "the opener that called connect() most, picked from openers",
	"worst.failing*":             "the opener whose calls failed most, picked from openers",
	"destinations[*].failing*":   "the opener whose calls failed most, picked from openers",
	"worst.runs_out":             "JSON: seconds_to_exhaustion is not null",
	"destinations[*].runs_out":   "JSON: seconds_to_exhaustion is not null",
	"close_wait.top_owner*":      "the first of by_owner",
	"close_wait.top_remote*":     "the first of by_remote",
	"queues.top_listener*":       "the first of listeners",
	"queues.top_syn_queue*":      "the first of syn_queues",
	"queues.full_listeners":      "JSON: the listeners whose queued > backlog",
	"queues.full_syn_queues":     "JSON: the syn_queues whose syn_recv > backlog",
	"queues.queued_listeners":    "JSON: the length of listeners",
	"queues.listeners[*].full":   "JSON: queued > backlog",
	"queues.syn_queues[*].full":  "JSON: syn_recv > backlog",
	"listening_ports":            "from the socket dump for the port guardrails' rules; the JSON lists no sockets",
}

// jsonOnly are the JSON keys rules do not read, with the reason.
var jsonOnly = map[string]string{
	"time":                                "a rule has no use for the clock; the journal and the JSON carry it",
	"degraded":                            "the fallbacks observation needed: the agent logs and counts them (observation_degraded), rules do not act on them",
	"ports.sources*":                      "bind() use per source address; rules read the busiest, ports.bind_source",
	"events.overflow":                     "events the flow map had no room for: the agent's own health (kernel_events_overflow_total), not the host's",
	"ports.bound_inactive":                "bound-only sockets wherever their port: context for bound_ports_in_range",
	"*.owners[*].partial":                 "the owner could be read only in part: the text output marks it",
	"close_wait.by_owner[*].partial":      "the owner could be read only in part: the text output marks it",
	"queues.listeners[*].owner.fds":       "read for CLOSE_WAIT owners only",
	"queues.listeners[*].owner.fd_limit":  "read for CLOSE_WAIT owners only",
	"queues.listeners[*].owner.partial":   "the owner could be read only in part: the text output marks it",
	"queues.syn_queues[*].owner.fds":      "read for CLOSE_WAIT owners only",
	"queues.syn_queues[*].owner.fd_limit": "read for CLOSE_WAIT owners only",
	"queues.syn_queues[*].owner.partial":  "the owner could be read only in part: the text output marks it",
}

// exception returns the reason of the first pattern of list that matches
// path, and marks it used; "" when none does.
func exception(list map[string]string, path string, used map[string]bool) string {
	for pattern, why := range list {
		if matchPath(pattern, path) {
			used[pattern] = true
			return why
		}
	}
	return ""
}

// matchPath matches a path against a pattern whose * stands for any run
// of characters.
func matchPath(pattern, path string) bool {
	before, after, star := strings.Cut(pattern, "*")
	if !star {
		return pattern == path
	}
	if !strings.HasPrefix(path, before) {
		return false
	}
	rest := path[len(before):]
	if !strings.Contains(after, "*") {
		return strings.HasSuffix(rest, after)
	}
	for i := range len(rest) + 1 {
		if matchPath(after, rest[i:]) {
			return true
		}
	}
	return false
}

// mapParent finds the JSON map a view path is a key of (states.TIME_WAIT
// is states["TIME_WAIT"]).
func mapParent(path string, js map[string]string) (string, bool) {
	i := strings.LastIndex(path, ".")
	if i < 0 {
		return "", false
	}
	return path[:i], js[path[:i]] == "map"
}

// ctyPaths adds the path and HCL type of every attribute reachable from t.
func ctyPaths(t reflect.Type, prefix string, out map[string]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("cty")
		if name == "" {
			continue
		}
		addPath(f.Type, prefix+name, out, ctyPaths)
	}
}

// jsonPaths adds the path and JSON type of every key encoding/json writes
// for t: untagged embedded structs' keys in their place, "-" left out.
func jsonPaths(t reflect.Type, prefix string, out map[string]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, tagged := f.Tag.Lookup("json")
		name, _, _ := strings.Cut(tag, ",")
		switch {
		case !f.IsExported() || name == "-":
		case f.Anonymous && !tagged:
			jsonPaths(f.Type, prefix, out)
		default:
			addPath(f.Type, prefix+cmp.Or(name, f.Name), out, jsonPaths)
		}
	}
}

// addPath adds path with the kind of value t holds, and for an object or
// a list of objects the paths inside it.
func addPath(t reflect.Type, path string, out map[string]string, walk func(reflect.Type, string, map[string]string)) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	out[path] = kind(t)
	switch {
	case out[path] == "object":
		walk(t, path+".", out)
	case out[path] == "list" && kind(t.Elem()) == "object":
		walk(t.Elem(), path+"[*].", out)
	}
}

// kind names a Go type's value as both HCL and JSON see it: hclType's
// names, and "map" for a map, "list" for any list.
func kind(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextMarshaler]()):
		return "string"
	case t.Kind() == reflect.Map:
		return "map"
	case t.Kind() == reflect.Slice:
		return "list"
	}
	return hclType(t)
}

// TestViewFieldsDocumented: every attribute a rule can read has a name and a
// doc, which VariablesMarkdown puts in policies/README.md.
func TestViewFieldsDocumented(t *testing.T) {
	for _, typ := range viewTypes(reflect.TypeFor[View]()) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Tag.Get("cty") == "" {
				if _, jsonOnly := f.Tag.Lookup("json"); !jsonOnly {
					t.Errorf("%s.%s has no cty tag: gocty would drop it", typ.Name(), f.Name)
				}
				continue
			}
			if f.Tag.Get("doc") == "" {
				t.Errorf("%s.%s (%s) has no doc tag", typ.Name(), f.Name, f.Tag.Get("cty"))
			}
		}
	}
}

// viewTypes lists the struct types reachable from t through cty-tagged
// fields, t first.
func viewTypes(t reflect.Type) []reflect.Type {
	out := []reflect.Type{t}
	seen := map[reflect.Type]bool{t: true}
	for i := 0; i < len(out); i++ {
		for j := range out[i].NumField() {
			f := out[i].Field(j)
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if f.Tag.Get("cty") != "" && ft.Kind() == reflect.Struct && !seen[ft] {
				seen[ft] = true
				out = append(out, ft)
			}
		}
	}
	return out
}

func TestNewView(t *testing.T) {
	f64 := func(x float64) *float64 { return &x }
	num := func(n int) *int { return &n }
	tests := []struct {
		name  string
		snap  Snapshot
		f     Findings
		check func(v View) bool
	}{
		{"no worst: known false, sentinel seconds", Snapshot{}, Findings{},
			func(v View) bool {
				return !v.Worst.Known && v.Worst.SecondsToExhaustion == UnknownSeconds && !v.Worst.RunsOut &&
					v.Worst.Owners != nil && v.Worst.Openers != nil && v.Destinations != nil && v.ListeningPorts != nil
			}},
		{"worst with growth and exhaustion", Snapshot{},
			Findings{Worst: &DestinationUse{Remote: "10.0.0.2:80", GrowthPerSecond: f64(3), SecondsToExhaustion: f64(90), CloseRate: 20}},
			func(v View) bool {
				w := v.Worst
				return w.Known && w.Remote == "10.0.0.2:80" && w.GrowthKnown && w.GrowthPerSecond == 3 &&
					w.RunsOut && w.SecondsToExhaustion == 90 && w.CloseRate == 20
			}},
		{"destinations are known", Snapshot{}, Findings{Destinations: []DestinationUse{{Remote: "a"}}},
			func(v View) bool { return len(v.Destinations) == 1 && v.Destinations[0].Known }},
		{"unknown rates are 0 and not known", Snapshot{}, Findings{},
			func(v View) bool { return !v.Connections.RatesKnown && v.Connections.ActiveOpensPerSecond == 0 }},
		{"known rates", Snapshot{}, Findings{Connections: ConnFindings{ActiveOpensPerSecond: f64(12.5)}},
			func(v View) bool { return v.Connections.RatesKnown && v.Connections.ActiveOpensPerSecond == 12.5 }},
		{"buckets count orphaned FIN_WAIT2 timewait sockets", Snapshot{},
			Findings{TimeWait: TimeWaitFindings{Count: 10, BucketsInUse: 4, Outgoing: num(7)}, FinWait2: FinWait2Findings{OrphanedTimeWait: 5}},
			func(v View) bool {
				return v.TimeWait.BucketsInUse == 15 && v.TimeWait.OutgoingKnown && v.TimeWait.Outgoing == 7
			}},
		{"close_wait's owners, remotes and stuck sockets", Snapshot{},
			Findings{CloseWait: CloseWaitFindings{Stuck: num(2),
				ByOwner:      []OwnerCount{{PID: 9, Command: "java", LocalPort: 8080, FDs: 10, FDLimit: 20, SecondsToFDLimit: f64(5)}},
				ByRemote:     []RemoteCount{{Remote: "10.0.0.3", Count: 4}},
				StuckSockets: []SocketID{{Local: netip.MustParseAddrPort("10.0.0.1:8080"), Remote: netip.MustParseAddrPort("10.0.0.3:5000"), Cookie: 11}}}},
			func(v View) bool {
				cw := v.CloseWait
				return cw.StuckKnown && cw.Stuck == 2 && cw.TopOwner.LocalPort == 8080 && cw.TopOwner.FDsKnown &&
					!cw.TopOwner.FDGrowthKnown && cw.TopOwner.SecondsToFDLimit == 5 && cw.TopRemote.Count == 4 &&
					cw.StuckSockets[0] == SocketView{Local: "10.0.0.1:8080", Remote: "10.0.0.3:5000", Cookie: 11} && cw.Pattern == "none"
			}},
		{"fullest listener first, with its owner", Snapshot{},
			Findings{Queues: QueueFindings{Backlog: Backlog{RecvQSockets: 3}, Listeners: []ListenerQueue{
				{Address: "a", Queued: 1, Backlog: 10},
				{Address: "b", Queued: 5, Backlog: 4, Owner: &Owner{PID: 7, Command: "haproxy"}}}}},
			func(v View) bool {
				q := v.Queues
				return q.TopListener.Address == "b" && q.TopListener.Full && q.TopListener.Owner.PID == 7 &&
					q.FullListeners == 1 && q.QueuedListeners == 2 && q.RecvQSockets == 3
			}},
		{"openers: most calls, most failures", Snapshot{},
			Findings{Destinations: []DestinationUse{{Openers: []Opener{{PID: 1, Connected: 10}, {PID: 2, Connected: 1, Failures: 3}}, ConnectFailures: new(uint64)}}},
			func(v View) bool {
				d := v.Destinations[0]
				return d.EventsKnown && d.Opener.PID == 1 && d.Failing.PID == 2
			}},
		{"states and window", Snapshot{}, Findings{Window: WindowFindings{Samples: 3, Seconds: 20}, States: map[string]int{"TIME_WAIT": 4, "NEW_SYN_RECV": 1}},
			func(v View) bool {
				return v.States.TimeWait == 4 && v.States.NewSynRecv == 1 && v.Window.Samples == 3 && v.Window.Seconds == 20 && !v.Window.SocketsDumped
			}},
	}
	for _, tc := range tests {
		if v := NewView(tc.snap, tc.f); !tc.check(v) {
			t.Errorf("%s: %+v", tc.name, v)
		}
	}
}
