package policies

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// TestVariablesTypes: the observation's types never depend on its values,
// so the load-time schema holds for every observation.
func TestVariablesTypes(t *testing.T) {
	full := exhaustedHost()
	cw := &full.Findings.CloseWait
	cw.Count, cw.Stuck = 3, ptr(1)
	cw.ByOwner = []advisor.OwnerCount{{PID: 1, Command: "x", Unit: "x.service", Count: 3}}
	cw.ByRemote = []advisor.RemoteCount{{Remote: "10.0.0.9", Count: 3}}
	full.Findings.Queues.Listeners = []advisor.ListenerQueue{{Address: "0.0.0.0:80", Queued: 1, Backlog: 1}}
	full.setSysctl(advisor.KeyTwReuseDelay, "50")
	for name, o := range map[string]observation{"zero": {}, "idle": idleHost(), "full": full} {
		vars := variables(o.Snapshot, o.Findings)
		if len(vars) != len(variableTypes) {
			t.Errorf("%s: %d variables, schema has %d", name, len(vars), len(variableTypes))
		}
		for k, v := range vars {
			if !v.Type().Equals(variableTypes[k]) {
				t.Errorf("%s: %s is %s, schema says %s", name, k, v.Type().GoString(), variableTypes[k].GoString())
			}
			if !v.IsWhollyKnown() {
				t.Errorf("%s: %s is not wholly known", name, k)
			}
			cty.Walk(v, func(p cty.Path, v cty.Value) (bool, error) {
				if v.IsNull() {
					t.Errorf("%s: %s%#v is null", name, k, p)
				}
				return true, nil
			})
		}
	}
	// Every kernel state is present, zero by default.
	states := variableTypes["states"]
	for _, s := range advisor.AllStates() {
		if !states.HasAttribute(s.String()) {
			t.Errorf("states.%s missing", s)
		}
	}
}

func TestEvaluateWhenErrors(t *testing.T) {
	tests := []struct{ name, when, want string }{
		{"null", `worst.known ? null : true`, "test.hcl:3:10: Invalid value; when is null; it must be a bool."},
		{"string", `worst.known ? "yes" : "no"`, "test.hcl:3:10: Wrong type; when must be a bool, got string"},
		{"string that converts", `worst.known ? "true" : "false"`, ""},
		{"runtime error", `destinations[5].utilization > 0.5`, "test.hcl:3:22: Invalid index"},
		{"attribute through a for variable", `length([for d in destinations : d.remotes]) > 0`, `test.hcl:3:43: Unsupported attribute; This object does not have an attribute named "remotes".`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := mustLoad(t, "\nrule \"r\" {\n  when = "+tc.when+"\n  message = \"fired\"\n}\n\nrule \"other\" {\n  when = true\n  message = \"still runs\"\n}\n")
			recs, diags := set.Evaluate(exhaustedHost().Snapshot, exhaustedHost().Findings)
			got := diagString(diags)
			if tc.want == "" {
				if got != "" || find(recs, "r") == nil {
					t.Fatalf("rule did not fire: %v %s", recs, got)
				}
				return
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			if find(recs, "r") != nil {
				t.Error("a failing rule fired")
			}
			if find(recs, "other") == nil {
				t.Error("a failing rule stopped the others")
			}
		})
	}
}

// TestEvaluateProposes: rules only propose. Values outside the guardrails,
// values the host already has and keys two rules set all come back as
// proposed; the guard decides when the plan is built.
func TestEvaluateProposes(t *testing.T) {
	set := mustLoad(t, `
guardrail "net.core.somaxconn" {
  max = 8192
}

rule "first" {
  severity = "critical"
  when     = true
  message  = "first ${sysctl.somaxconn}"
  advice   = "do it"
  set "net.core.somaxconn" {
    value = 8192
  }
  set "net.ipv4.tcp_tw_reuse" {
    value = sysctl.tcp_tw_reuse
  }
}

rule "second" {
  topic   = "queues"
  when    = true
  message = "second"
  set "net.core.somaxconn" {
    value = 60000
  }
}

rule "range-object" {
  when    = true
  message = "range"
  set "net.ipv4.ip_local_port_range" {
    value = [ports.low - 1000, ports.high]
  }
}
`)
	o := idleHost()
	recs, diags := set.Evaluate(o.Snapshot, o.Findings)
	if len(diags) > 0 {
		t.Fatal(diagString(diags))
	}
	first := find(recs, "first")
	if first == nil || !slices.Equal(first.Changes, []Change{{advisor.KeySomaxconn, "8192"}, {advisor.KeyTwReuse, "2"}}) {
		t.Fatalf("first: %+v", first)
	}
	if first.Severity != advisor.SeverityCritical || first.Summary != "first 4096" || first.Advice != "do it" || first.Message != "first 4096 do it" || first.Topic != "first" {
		t.Errorf("first: %+v", *first)
	}
	if first.Source.Filename != "test.hcl" || first.Source.Start.Line != 6 {
		t.Errorf("first declared at %v", first.Source)
	}
	if r := find(recs, "second"); r == nil || len(r.Changes) != 1 || r.Changes[0].Value != "60000" || r.Severity != advisor.SeverityWarning || r.Topic != "queues" {
		t.Errorf("second: %+v", r)
	}
	if r := find(recs, "range-object"); r == nil || len(r.Changes) != 1 || r.Changes[0].Value != "31768 60999" {
		t.Errorf("range-object: %+v", r)
	}
	var order []string
	for _, r := range recs {
		order = append(order, r.Rule)
	}
	if strings.Join(order, ",") != "first,second,range-object" {
		t.Errorf("order %v", order)
	}
}

func TestEvaluateDivisionByZero(t *testing.T) {
	set := mustLoad(t, `
locals {
  share = worst.time_wait / worst.ports_usable
}

rule "divides" {
  when    = worst.ports_in_use / states.CLOSE_WAIT > 1
  message = "m"
}

rule "guarded" {
  when    = states.CLOSE_WAIT > 0 ? worst.ports_in_use / states.CLOSE_WAIT > 1 : true
  message = "m"
}

rule "through-a-local" {
  when    = local.share > 0.5
  message = "m"
}
`)
	o := idleHost()
	o.Findings.Worst.PortsUsable = 0
	recs, diags := set.Evaluate(o.Snapshot, o.Findings)
	got := diagString(diags)
	for _, want := range []string{"test.hcl:7:13: Division by zero", "test.hcl:3:11: Division by zero"} {
		if !strings.Contains(got, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, got)
		}
	}
	if find(recs, "divides") != nil || find(recs, "through-a-local") != nil || find(recs, "guarded") == nil {
		t.Errorf("fired: %+v", recs)
	}
}

func TestSettings(t *testing.T) {
	def := mustLoad(t, "")
	if def.Settings.Mode != advisor.ModeDryRun || def.Settings.Interval != 10*time.Second || def.Settings.Persist ||
		def.Settings.PersistPath != "/etc/sysctl.d/90-tcp-advisor.conf" {
		t.Errorf("defaults: %+v", def.Settings)
	}
	s := mustLoad(t, `
agent {
  mode         = "enforce"
  interval     = "30s"
  persist      = true
  persist_path = "/etc/sysctl.d/95-lb.conf"
}
`)
	got := s.Settings
	if got.Mode != advisor.ModeEnforce || got.Interval != 30*time.Second || !got.Persist || got.PersistPath != "/etc/sysctl.d/95-lb.conf" {
		t.Errorf("settings %+v", got)
	}
	if len(got.Sources) != 1 || got.Sources[0].Start.Line != 2 {
		t.Errorf("agent declared at %v", got.Sources)
	}
}

func TestPersistPath(t *testing.T) {
	for p, ok := range map[string]bool{
		"/etc/sysctl.d/90-tcp-advisor.conf": true,
		"/etc/sysctl.d/x.conf":              true,
		"/etc/sysctl.d/.conf":               false,
		"/etc/sysctl.conf":                  false,
		"/etc/sysctl.d/sub/x.conf":          false,
		"/etc/sysctl.d/../passwd.conf":      false,
		"/etc/sysctl.d/x.txt":               false,
		"etc/sysctl.d/x.conf":               false,
		"/usr/lib/sysctl.d/x.conf":          false,
	} {
		if err := CheckPersistPath(p); (err == nil) != ok {
			t.Errorf("%s: err = %v, want ok=%v", p, err, ok)
		}
	}
}

// TestGuardrailMerge: guardrails for one key in several files merge, the
// tighter bound winning.
func TestGuardrailMerge(t *testing.T) {
	set, diags := load(nil, []source{
		{name: "a.hcl", src: []byte(`
guardrail "net.ipv4.ip_local_port_range" {
  min      = 10000
  max      = 65000
  max_step = 8000
  cooldown = "5m"
}
guardrail "net.ipv4.tcp_tw_reuse" {
  allowed = [1, 2]
}
`)},
		{name: "c.hcl", src: []byte(`
guardrail "net.ipv4.ip_local_port_range" {
  reserve = [9100, 8443]
}
`)},
		{name: "d.hcl", src: []byte(`
guardrail "net.ipv4.ip_local_port_range" {
  reserve   = [8443, "5432", "30000-32767"]
  low_floor = 20000
}
`)},
		{name: "b.hcl", src: []byte(`
guardrail "net.ipv4.ip_local_port_range" {
  min      = 20000
  max      = 65535
  max_step = 16000
  cooldown = "10m"
}
guardrail "net.ipv4.tcp_tw_reuse" {
  allowed = ["2", "0"]
}
`)},
	})
	if len(diags) > 0 {
		t.Fatal(diagString(diags))
	}
	g := set.Guardrails[advisor.KeyPortRange]
	if *g.Min != 20000 || *g.Max != 65000 || *g.MaxStep != 8000 || g.Cooldown != 10*time.Minute {
		t.Errorf("merged port range guardrail: min %d max %d step %d cooldown %s", *g.Min, *g.Max, *g.MaxStep, g.Cooldown)
	}
	if g.Reserve.String() != "5432,8443,9100,30000-32767" {
		t.Errorf("merged reserve %v, want the union", g.Reserve)
	}
	if g.LowFloor == nil || *g.LowFloor != 20000 {
		t.Errorf("low_floor %v, want the opt-in kept", g.LowFloor)
	}
	if g.Source() != "a.hcl:2:1" || len(g.Sources) != 4 {
		t.Errorf("sources %v", g.Sources)
	}
	if a := set.Guardrails[advisor.KeyTwReuse].Allowed; len(a) != 1 || a[0] != "2" {
		t.Errorf("merged allowed %v", a)
	}

	_, diags = load(nil, []source{
		{name: "a.hcl", src: []byte("guardrail \"net.core.somaxconn\" {\n  min = 5000\n}\n")},
		{name: "b.hcl", src: []byte("guardrail \"net.core.somaxconn\" {\n  max = 4096\n}\n")},
	})
	if got := diagString(diags); !strings.Contains(got, "b.hcl:1:1: Conflicting guardrails; net.core.somaxconn conflicts with the guardrail declared at a.hcl:1:1: together they require min 5000 <= max 4096.") {
		t.Errorf("conflict: %s", got)
	}
	_, diags = load(nil, []source{
		{name: "a.hcl", src: []byte("guardrail \"net.ipv4.tcp_tw_reuse\" {\n  allowed = [1]\n}\n")},
		{name: "b.hcl", src: []byte("guardrail \"net.ipv4.tcp_tw_reuse\" {\n  allowed = [2]\n}\n")},
	})
	if got := diagString(diags); !strings.Contains(got, "allow no value") {
		t.Errorf("conflict: %s", got)
	}
}

// TestGuardrailMergeSources: the file named for each merged bound is the
// file whose bound won, whichever order the files come in; on a tie the
// earlier file keeps it.
func TestGuardrailMergeSources(t *testing.T) {
	tight := "guardrail \"net.ipv4.ip_local_port_range\" {\n  min = 20000\n  max = 60000\n  max_step = 1000\n  low_floor = 25000\n  cooldown = \"10m\"\n}\n"
	loose := "guardrail \"net.ipv4.ip_local_port_range\" {\n  min = 15000\n  max = 65000\n  max_step = 4000\n  low_floor = 20000\n  cooldown = \"5m\"\n}\n"
	tests := []struct{ name, first, second, want string }{
		{"tighter first", tight, loose, "a.hcl:1:1"},
		{"tighter second", loose, tight, "b.hcl:1:1"},
		{"tie", tight, tight, "a.hcl:1:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, diags := load(nil, []source{{name: "a.hcl", src: []byte(tc.first)}, {name: "b.hcl", src: []byte(tc.second)}})
			if len(diags) > 0 {
				t.Fatal(diagString(diags))
			}
			g := set.Guardrails[advisor.KeyPortRange]
			if *g.Min != 20000 || *g.Max != 60000 || *g.MaxStep != 1000 || *g.LowFloor != 25000 || g.Cooldown != 10*time.Minute {
				t.Errorf("merged: min %d max %d max_step %d low_floor %d cooldown %s", *g.Min, *g.Max, *g.MaxStep, *g.LowFloor, g.Cooldown)
			}
			for _, attr := range []string{"min", "max", "max_step", "low_floor", "cooldown"} {
				if got := g.SourceOf(attr); got != tc.want {
					t.Errorf("SourceOf(%q) = %s, want %s", attr, got, tc.want)
				}
			}
		})
	}
}

func TestSetGuardrail(t *testing.T) {
	set := mustLoad(t, "guardrail \"net.ipv4.ip_local_port_range\" {\n  max = 61000\n  reserve = [9100, 8443, 9100]\n}\n")
	g := set.Guardrail(advisor.KeyPortRange)
	if *g.Min != 1024 || *g.Max != 61000 {
		t.Errorf("effective port range guardrail: %d..%d", *g.Min, *g.Max)
	}
	if g.Reserve.String() != "8443,9100" {
		t.Errorf("reserve %v, want 8443,9100, sorted and unique", g.Reserve)
	}
	if g := Default().Guardrail(advisor.KeyPortRange); len(g.Reserve) != 0 || g.LowFloor != nil {
		t.Errorf("the default policies reserve %v", g.Reserve)
	}
	g = set.Guardrail(advisor.KeyTwReuse)
	if *g.Min != 0 || *g.Max != 2 {
		t.Errorf("effective tw_reuse guardrail: %d..%d", *g.Min, *g.Max)
	}
	if g := set.Guardrail(advisor.KeyReservedPorts); g.Min != nil || g.Max != nil {
		t.Errorf("reserved ports have bounds: %+v", g)
	}
}

func TestFormatDiagnostics(t *testing.T) {
	_, diags := loadString(t, "rule \"r\" {\n  when = nope\n  message = \"m\"\n}\n")
	diags = append(diags, fileError("/etc/tcp-advisor/policies.d", "Cannot read policy directory", "permission denied"))
	want := "test.hcl:2:10: Unknown variable; There is no observation named \"nope\". The observations are: close_wait, connections, destinations, events, fin_wait2, listening_ports, local, orphans, ports, queues, states, sysctl, time_wait, window, worst.\n" +
		"/etc/tcp-advisor/policies.d: Cannot read policy directory; permission denied\n"
	if got := diagString(diags); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestEnforceNamespaces(t *testing.T) {
	if got := mustLoad(t, "").Settings.EnforceNamespaces; len(got) != 1 || got[0] != "host" {
		t.Errorf("default %v, want [host]", got)
	}
	s := mustLoad(t, "agent {\n  enforce_namespaces = [\"host\", \"lb-*\"]\n}\n")
	if got := s.Settings.EnforceNamespaces; len(got) != 2 || got[1] != "lb-*" {
		t.Errorf("%v", got)
	}
	if _, diags := loadString(t, "agent {\n  enforce_namespaces = [\"lb-[\"]\n}\n"); !strings.Contains(diagString(diags), `test.hcl:2:24: Invalid pattern; enforce_namespaces: "lb-[" is not a glob pattern.`) {
		t.Errorf("bad glob: %s", diagString(diags))
	}
}

func TestFormatWidthBounded(t *testing.T) {
	// A literal format is checked at load; one built from the observation
	// when the rule runs.
	if _, diags := loadString(t, "rule \"r\" {\n  when = true\n  message = format(\"%999999999d\", 1)\n}\n"); !strings.Contains(diagString(diags), "test.hcl:3:21: Invalid function argument; Invalid value for \"format\" parameter: a width or precision of 999999999 is more than 1000.") {
		t.Errorf("literal: %s", diagString(diags))
	}
	set := mustLoad(t, "rule \"r\" {\n  when = true\n  message = format(\"%${sysctl.tcp_max_tw_buckets}d\", 1)\n}\n")
	o := idleHost()
	recs, diags := set.Evaluate(o.Snapshot, o.Findings)
	if len(recs) != 0 || !strings.Contains(diagString(diags), "a width or precision of 262144 is more than 1000") {
		t.Errorf("recs %v, diags %s", recs, diagString(diags))
	}
	ok := mustLoad(t, "rule \"r\" {\n  when = true\n  message = format(\"%5.1f%%\", 12.34)\n}\n")
	recs, diags = ok.Evaluate(o.Snapshot, o.Findings)
	if len(recs) != 1 || recs[0].Message != "12.3%" {
		t.Errorf("recs %v, diags %s", recs, diagString(diags))
	}
}
