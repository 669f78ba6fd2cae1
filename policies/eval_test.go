package policies

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/zclconf/go-cty/cty"
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
	full.Snapshot.Sysctls.TCPTwReuseDelayMs = ptr(50)
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
		{"null", `worst.exists ? null : true`, "test.hcl:3:10: Invalid value; when is null; it must be a bool."},
		{"string", `worst.exists ? "yes" : "no"`, "test.hcl:3:10: Wrong type; when must be a bool, got string"},
		{"string that converts", `worst.exists ? "true" : "false"`, ""},
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

func TestEvaluateChanges(t *testing.T) {
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
  when    = true
  message = "second"
  set "net.core.somaxconn" {
    value = 6000
  }
}

rule "too-far" {
  when    = true
  message = "too far"
  set "net.ipv4.tcp_max_syn_backlog" {
    value = sysctl.tcp_max_syn_backlog * 0
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
	got := diagString(diags)
	for _, want := range []string{
		`test.hcl:22:7: warning: Key already set by another rule; Rule "second" also sets net.core.somaxconn, to "6000"; rule "first", earlier in load order, wins.`,
		`test.hcl:31:13: Value breaks a guardrail; Rule "too-far": net.ipv4.tcp_max_syn_backlog "0": out of range; want a positive integer; the change is dropped.`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, got)
		}
	}
	first := find(recs, "first")
	if first == nil || len(first.Changes) != 1 || first.Changes[0] != (Change{KeySomaxconn, "8192"}) {
		t.Fatalf("first: %+v", first)
	}
	if first.Severity != SeverityCritical || first.Summary != "first 4096" || first.Advice != "do it" ||
		first.Message != `first 4096 do it (net.ipv4.tcp_tw_reuse is already "2": nothing to change)` {
		t.Errorf("first: %+v", *first)
	}
	if first.Range.Filename != "test.hcl" || first.Range.Start.Line != 6 {
		t.Errorf("first declared at %v", first.Range)
	}
	if r := find(recs, "second"); r == nil || len(r.Changes) != 0 || r.Severity != SeverityWarning {
		t.Errorf("second: %+v", r)
	}
	if r := find(recs, "too-far"); r == nil || len(r.Changes) != 0 {
		t.Errorf("too-far: %+v", r)
	}
	if r := find(recs, "range-object"); r == nil || len(r.Changes) != 1 || r.Changes[0].Value != "31768 60999" {
		t.Errorf("range-object: %+v", r)
	}
	// Load order is the order of the result.
	var order []string
	for _, r := range recs {
		order = append(order, r.Rule)
	}
	if strings.Join(order, ",") != "first,second,too-far,range-object" {
		t.Errorf("order %v", order)
	}
}

func TestSettings(t *testing.T) {
	def := mustLoad(t, "")
	if def.Settings.Mode != ModeDryRun || def.Settings.Interval != 10*time.Second || def.Settings.Persist ||
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
	want := Settings{Mode: ModeEnforce, Interval: 30 * time.Second, Persist: true, PersistPath: "/etc/sysctl.d/95-lb.conf"}
	got := s.Settings
	got.Range = want.Range
	if got != want {
		t.Errorf("settings %+v, want %+v", got, want)
	}
	if s.Settings.Range.Start.Line != 2 {
		t.Errorf("agent declared at %v", s.Settings.Range)
	}
}

// TestGuardrailMerge: guardrails for one key in several files merge, the
// tighter bound winning.
func TestGuardrailMerge(t *testing.T) {
	set, diags := load([]source{
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
  reserve = [8443, 5432]
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
	g := set.Guardrails[KeyPortRange]
	if *g.Min != 20000 || *g.Max != 65000 || *g.MaxStep != 8000 || g.Cooldown != 10*time.Minute {
		t.Errorf("merged port range guardrail: min %d max %d step %d cooldown %s", *g.Min, *g.Max, *g.MaxStep, g.Cooldown)
	}
	if !slices.Equal(g.Reserve, []int{5432, 8443, 9100}) {
		t.Errorf("merged reserve %v, want the union [5432 8443 9100]", g.Reserve)
	}
	if g.Range.Filename != "a.hcl" {
		t.Errorf("range %v", g.Range)
	}
	if a := set.Guardrails[KeyTwReuse].Allowed; len(a) != 1 || a[0] != "2" {
		t.Errorf("merged allowed %v", a)
	}

	_, diags = load([]source{
		{name: "a.hcl", src: []byte("guardrail \"net.core.somaxconn\" {\n  min = 5000\n}\n")},
		{name: "b.hcl", src: []byte("guardrail \"net.core.somaxconn\" {\n  max = 4096\n}\n")},
	})
	if got := diagString(diags); !strings.Contains(got, "b.hcl:1:1: Conflicting guardrails; net.core.somaxconn conflicts with the guardrail declared at a.hcl:1:1: together they require min 5000 <= max 4096.") {
		t.Errorf("conflict: %s", got)
	}
	_, diags = load([]source{
		{name: "a.hcl", src: []byte("guardrail \"net.ipv4.tcp_tw_reuse\" {\n  allowed = [1]\n}\n")},
		{name: "b.hcl", src: []byte("guardrail \"net.ipv4.tcp_tw_reuse\" {\n  allowed = [2]\n}\n")},
	})
	if got := diagString(diags); !strings.Contains(got, "allow no value") {
		t.Errorf("conflict: %s", got)
	}
}

func TestSetGuardrail(t *testing.T) {
	set := mustLoad(t, "guardrail \"net.ipv4.ip_local_port_range\" {\n  max = 61000\n  reserve = [9100, 8443, 9100]\n}\n")
	g := set.Guardrail(KeyPortRange)
	if *g.Min != 1024 || *g.Max != 61000 {
		t.Errorf("effective port range guardrail: %d..%d", *g.Min, *g.Max)
	}
	if !slices.Equal(g.Reserve, []int{8443, 9100}) {
		t.Errorf("reserve %v, want [8443 9100], sorted and unique", g.Reserve)
	}
	if g := Default().Guardrail(KeyPortRange); len(g.Reserve) != 0 {
		t.Errorf("the default policies reserve %v", g.Reserve)
	}
	g = set.Guardrail(KeyTwReuse)
	if *g.Min != 0 || *g.Max != 2 {
		t.Errorf("effective tw_reuse guardrail: %d..%d", *g.Min, *g.Max)
	}
	if g := set.Guardrail(KeyReservedPorts); g.Min != nil || g.Max != nil {
		t.Errorf("reserved ports have bounds: %+v", g)
	}
}

func TestFormatDiagnostics(t *testing.T) {
	_, diags := loadString(t, "rule \"r\" {\n  when = nope\n  message = \"m\"\n}\n")
	diags = append(diags, fileError("/etc/tcp-advisor/policies.d", "Cannot read policy directory", "permission denied"))
	want := "test.hcl:2:10: Unknown variable; There is no observation named \"nope\". The observations are: close_wait, connections, destinations, fin_wait2, listening_ports, ports, queues, states, sysctl, time_wait, window, worst.\n" +
		"/etc/tcp-advisor/policies.d: Cannot read policy directory; permission denied\n"
	if got := diagString(diags); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
