package advisor

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// TestViewNamesMatchJSON: a figure that both the rule variables (View, cty
// tags) and the JSON output (Findings, json tags) carry has one name. The
// view and the findings type it comes from are matched by Go field name.
func TestViewNamesMatchJSON(t *testing.T) {
	pairs := []struct{ view, json any }{
		{View{}, Findings{}},
		{View{}, ConnFindings{}},
		{PortsView{}, PortFindings{}},
		{DestinationView{}, DestinationUse{}},
		{OwnerView{}, OwnerCount{}},
		{ConnectionsView{}, ConnFindings{}},
		{TimeWaitView{}, TimeWaitFindings{}},
		{CloseWaitView{}, CloseWaitFindings{}},
		{QueuesView{}, QueueFindings{}},
		{QueuesView{}, Backlog{}},
		{ListenerView{}, ListenerQueue{}},
		{ListenerView{}, Owner{}},
		{SynQueueView{}, SynQueue{}},
		{EventsView{}, EventFindings{}},
		{EventsView{}, ConnTotals{}},
		{WindowView{}, Findings{}},
	}
	matched := 0
	for _, p := range pairs {
		vt, jt := reflect.TypeOf(p.view), reflect.TypeOf(p.json)
		for i := range vt.NumField() {
			vf := vt.Field(i)
			jf, ok := jt.FieldByName(vf.Name)
			if !ok {
				continue
			}
			matched++
			if c, j := vf.Tag.Get("cty"), jsonName(jf); c != j {
				t.Errorf("%s.%s is %q in policies, %s.%s is %q in JSON", vt.Name(), vf.Name, c, jt.Name(), jf.Name, j)
			}
		}
	}
	// Types the view shares with the findings carry both tags.
	for _, typ := range viewTypes(reflect.TypeFor[View]()) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if _, ok := f.Tag.Lookup("json"); ok && f.Tag.Get("cty") != "" {
				matched++
				if c, j := f.Tag.Get("cty"), jsonName(f); c != j {
					t.Errorf("%s.%s is %q in policies and %q in JSON", typ.Name(), f.Name, c, j)
				}
			}
		}
	}
	if matched < 80 {
		t.Errorf("only %d figures compared: the pairs no longer match the types", matched)
	}
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

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
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
			Findings{Connections: ConnFindings{Worst: &DestinationUse{Remote: "10.0.0.2:80", GrowthPerSecond: f64(3), SecondsToExhaustion: f64(90), CloseRate: 20}}},
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
				StuckSockets: []SocketID{{Local: netip.MustParseAddrPort("10.0.0.1:8080"), Remote: netip.MustParseAddrPort("10.0.0.3:5000")}}}},
			func(v View) bool {
				cw := v.CloseWait
				return cw.StuckKnown && cw.Stuck == 2 && cw.TopOwner.LocalPort == 8080 && cw.TopOwner.FDsKnown &&
					!cw.TopOwner.FDGrowthKnown && cw.TopOwner.SecondsToFDLimit == 5 && cw.TopRemote.Count == 4 &&
					cw.StuckSockets[0] == "10.0.0.1:8080 -> 10.0.0.3:5000" && cw.Pattern == "none"
			}},
		{"fullest listener first, owner flattened", Snapshot{},
			Findings{Queues: QueueFindings{Backlog: Backlog{RecvQSockets: 3}, Listeners: []ListenerQueue{
				{Address: "a", Queued: 1, Backlog: 10},
				{Address: "b", Queued: 5, Backlog: 4, Owner: &Owner{PID: 7, Command: "haproxy"}}}}},
			func(v View) bool {
				q := v.Queues
				return q.TopListener.Address == "b" && q.TopListener.Full && q.TopListener.PID == 7 &&
					q.FullListeners == 1 && q.QueuedListeners == 2 && q.RecvQSockets == 3
			}},
		{"openers: most calls, most failures", Snapshot{},
			Findings{Destinations: []DestinationUse{{Openers: []Opener{{PID: 1, Connected: 10}, {PID: 2, Connected: 1, Failures: 3}}, ConnectFailures: new(uint64)}}},
			func(v View) bool {
				d := v.Destinations[0]
				return d.EventsKnown && d.Opener.PID == 1 && d.Failing.PID == 2
			}},
		{"states and window", Snapshot{}, Findings{Samples: 3, WindowSeconds: 20, States: map[string]int{"TIME_WAIT": 4, "NEW_SYN_RECV": 1}},
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
