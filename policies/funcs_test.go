package policies

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

func TestWidenPortRange(t *testing.T) {
	none := widenLimits{floor: 1024, ceiling: 65535}
	tests := []struct {
		name   string
		cur    [2]int
		target int64
		lim    widenLimits
		want   [2]int
	}{
		{"raises high first", [2]int{40000, 40999}, 2000, none, [2]int{40000, 41999}},
		{"parity: shrinks by one rather than overshoot", [2]int{40000, 40999}, 2001, none, [2]int{40000, 41999}},
		{"parity: same-parity result fixed", [2]int{40001, 40999}, 1501, none, [2]int{40001, 41500}},
		{"high stops at 65535, then low goes down", [2]int{60000, 60999}, 10000, none, [2]int{55536, 65535}},
		{"the default range grows upwards first", [2]int{32768, 60999}, 44616, none, [2]int{20920, 65535}},
		{"low stops at 1024", [2]int{2000, 60000}, 70000, none, [2]int{1024, 65535}},
		{"the widest range stays", [2]int{1024, 65535}, 100000, none, [2]int{1024, 65535}},
		{"never shrinks", [2]int{32768, 60999}, 1000, none, [2]int{32768, 60999}},
		{"same size is no change", [2]int{32768, 60999}, 28232, none, [2]int{32768, 60999}},
		{"max_step bounds the growth", [2]int{40000, 40999}, 100000, widenLimits{floor: 1024, ceiling: 65535, maxStep: 16384}, [2]int{40000, 57383}},
		{"max_step near the top: high to 65535, the rest below", [2]int{50000, 59999}, 100000, widenLimits{floor: 1024, ceiling: 65535, maxStep: 16384}, [2]int{39152, 65535}},
		{"max_step: odd size fixed by shrinking", [2]int{40000, 40999}, 100000, widenLimits{floor: 1024, ceiling: 65535, maxStep: 1001}, [2]int{40000, 41999}},
		{"guardrail floor", [2]int{50000, 60999}, 25000, widenLimits{floor: 45000, ceiling: 65535}, [2]int{45000, 65535}},
		{"guardrail ceiling, then low goes down", [2]int{40000, 40999}, 20000, widenLimits{floor: 1024, ceiling: 50000}, [2]int{30001, 50000}},
		{"guardrail ceiling and floor", [2]int{32768, 40999}, 30000, widenLimits{floor: 32768, ceiling: 50000}, [2]int{32768, 49999}},
		{"privileged low allowed", [2]int{1024, 2000}, 2000, widenLimits{floor: 500, ceiling: 2000}, [2]int{501, 2000}},
		{"no room at all", [2]int{32768, 60999}, 40000, widenLimits{floor: 32768, ceiling: 60999}, [2]int{32768, 60999}},
		{"a range already below the floor is left alone", [2]int{1000, 2001}, 3000, none, [2]int{1000, 2001}},
		{"a range already above the ceiling is left alone", [2]int{40000, 61000}, 30000, widenLimits{floor: 1024, ceiling: 60999}, [2]int{40000, 61000}},
		{"one more port, same parity grows by two", [2]int{40000, 40999}, 1001, none, [2]int{40000, 41001}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := advisor.PortRange{Low: tc.cur[0], High: tc.cur[1]}
			got := widenPortRange(cur, tc.target, tc.lim)
			if want := (advisor.PortRange{Low: tc.want[0], High: tc.want[1]}); got != want {
				t.Fatalf("widen(%v, %d) = %v, want %v", cur, tc.target, got, want)
			}
			checkWidenInvariants(t, cur, tc.target, tc.lim, got)
		})
	}
}

// checkWidenInvariants holds for every widening: never shrinks, stays in
// the limits, respects max_step and does not overshoot the target by more
// than the one port parity may add.
func checkWidenInvariants(t *testing.T, cur advisor.PortRange, target int64, l widenLimits, got advisor.PortRange) {
	t.Helper()
	if got.Low > cur.Low || got.High < cur.High {
		t.Errorf("%v shrinks %v", got, cur)
	}
	if got == cur {
		return
	}
	if got.Low < l.floor || got.High > l.ceiling || got.Low >= got.High {
		t.Errorf("%v leaves the limits %+v", got, l)
	}
	if l.maxStep > 0 && int64(got.Size()-cur.Size()) > l.maxStep {
		t.Errorf("%v grows %v by more than %d", got, cur, l.maxStep)
	}
	if int64(got.Size()) > max(target, int64(cur.Size()))+1 {
		t.Errorf("%v overshoots the target %d", got, target)
	}
}

// evalHCL evaluates one expression with the function library of set over
// the given observation.
func evalHCL(t *testing.T, set *Set, o observation, src string) (cty.Value, hcl.Diagnostics) {
	t.Helper()
	expr, diags := hclsyntax.ParseExpression([]byte(src), "expr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("%s: %s", src, diagString(diags))
	}
	ctx := &hcl.EvalContext{Variables: variables(o.Snapshot, o.Findings), Functions: set.functions(o.Snapshot.Sysctls)}
	return expr.Value(ctx)
}

func TestFunctions(t *testing.T) {
	set := mustLoad(t, `
guardrail "net.ipv4.ip_local_port_range" {
  min      = 10000
  max_step = 5000
}
guardrail "net.core.somaxconn" {
  max      = 65535
  max_step = 1000
}
`)
	o := exhaustedHost() // 40000-40999
	o.setSysctl(advisor.KeySomaxconn, "4096")
	tests := []struct {
		expr string
		want cty.Value
	}{
		{`widen_port_range(sysctl.ip_local_port_range, 100000)`, cty.StringVal("40000 45999")},
		{`widen_port_range("40000 40999", 2000)`, cty.StringVal("40000 41999")},
		{`widen_port_range([40000, 40999], 2000)`, cty.StringVal("40000 41999")},
		{`widen_port_range({low = 40000, high = 40999}, 1999.2)`, cty.StringVal("40000 41999")},
		{`widen_port_range("60000 65535", 100000)`, cty.StringVal("60000 65535")}, // the low end stays
		{`widen_port_range("40000 40999", 10)`, cty.StringVal("40000 40999")},
		{`bounded("net.core.somaxconn", 100000)`, cty.NumberIntVal(5096)},
		{`bounded("net.core.somaxconn", -5)`, cty.NumberIntVal(3096)},
		{`bounded("net.ipv4.tcp_fin_timeout", 0)`, cty.NumberIntVal(1)},
		{`bounded("net.ipv4.tcp_fin_timeout", 500)`, cty.NumberIntVal(120)},
		{`percent(0.9)`, cty.StringVal("90%")},
		{`thousands(7769)`, cty.StringVal("7,769")},
		{`thousands(999.6)`, cty.StringVal("1,000")},
		{`thousands(1234567)`, cty.StringVal("1,234,567")},
		{`thousands(-4321)`, cty.StringVal("-4,321")},
		{`thousands(12)`, cty.StringVal("12")},
		{`percent(0.85678)`, cty.StringVal("85.7%")},
		{`percent(worst.utilization)`, cty.StringVal("90%")},
		{`duration(worst.seconds_to_exhaustion)`, cty.StringVal("20s")},
		{`duration(250.4)`, cty.StringVal("4m10s")},
		{`duration(-1)`, cty.StringVal("unknown")},
		{`duration(0.4)`, cty.StringVal("under a second")},
		{`round(2.5)`, cty.NumberIntVal(3)},
		{`round(2.345, 2)`, cty.NumberFloatVal(2.35)},
		{`clamp(5, 1, 3)`, cty.NumberIntVal(3)},
		{`clamp(-5, 1, 3)`, cty.NumberIntVal(1)},
		{`sum([for d in destinations : d.ports_in_use])`, cty.NumberIntVal(900)},
		{`sum([])`, cty.NumberIntVal(0)},
		{`max(1, 5, 3)`, cty.NumberIntVal(5)},
		{`format("%d/%d", worst.ports_in_use, worst.ports_usable)`, cty.StringVal("900/1000")},
		{`contains(listening_ports, 80)`, cty.True},
		{`listening_ports`, cty.ListVal([]cty.Value{cty.NumberIntVal(22), cty.NumberIntVal(80)})},
		{`worst.time_wait`, cty.NumberIntVal(880)},
		{`destinations[0].time_wait`, cty.NumberIntVal(880)},
		{`ports.distinct_in_use`, cty.NumberIntVal(900)},
		{`ports.bind_utilization`, cty.NumberFloatVal(0.9)},
		{`close_wait.samples`, cty.NumberIntVal(0)},
		{`states.TIME_WAIT`, cty.NumberIntVal(4)},
		{`states["CLOSE_WAIT"]`, cty.NumberIntVal(0)},
		{`sysctl.tcp_tw_reuse_delay`, cty.NumberIntVal(1000)},
		{`worst.seconds_to_exhaustion`, cty.NumberIntVal(20)},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			got, diags := evalHCL(t, set, o, tc.expr)
			if diags.HasErrors() {
				t.Fatal(diagString(diags))
			}
			if !got.RawEquals(tc.want) && !(got.Type() == cty.Number && got.Equals(tc.want).True()) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestFunctionErrors(t *testing.T) {
	set := mustLoad(t, "")
	for _, src := range []string{
		`widen_port_range("a b", 10)`,
		`widen_port_range("5000 4000", 10)`,
		`widen_port_range(true, 10)`,
		`bounded("net.ipv4.ip_local_port_range", 5)`,
		`bounded("net.ipv4.tcp_tw_recycle", 1)`,
		`clamp(1, 3, 2)`,
		`round(1, 2, 3)`,
		`round(1, 20)`,
	} {
		if _, diags := evalHCL(t, set, idleHost(), src); !diags.HasErrors() {
			t.Errorf("%s: no error", src)
		}
	}
}

// TestWidenPortRangeLimits: the guardrail's bounds and the host's
// ip_unprivileged_port_start bound the widened range.
func TestWidenPortRangeLimits(t *testing.T) {
	set := mustLoad(t, `
guardrail "net.ipv4.ip_local_port_range" {
  min                  = 500
  max                  = 2000
  allow_privileged_low = true
  low_floor            = 500
}
`)
	o := idleHost()
	o.setSysctl(advisor.KeyUnprivilegedPortStart, "800")
	for src, want := range map[string]string{
		// High is at the guardrail's max: low goes down, to 800, the
		// host's ip_unprivileged_port_start, then one back for parity.
		`widen_port_range("1024 2000", 3000)`: "801 2000",
		// Room above first.
		`widen_port_range("1024 1500", 900)`: "1024 1923",
	} {
		got, diags := evalHCL(t, set, o, src)
		if diags.HasErrors() {
			t.Fatal(diagString(diags))
		}
		if got.AsString() != want {
			t.Errorf("%s = %s, want %s", src, got.AsString(), want)
		}
	}
}

// TestWideningKeepsClearOfReservedRanges: a reserved range above the port
// range is a ceiling; a single reserved port is not.
func TestWideningKeepsClearOfReservedRanges(t *testing.T) {
	sc := advisor.MustSysctls(map[string]string{advisor.KeyPortRange: "40000 40999", advisor.KeyUnprivilegedPortStart: "1024"})
	for reserve, wantHigh := range map[string]int{
		`["49152-65535"]`: 49151,
		`[41500]`:         56383,
		`["30000-32767", "45000-45999", "50000-50999"]`: 44999,
	} {
		set := mustLoad(t, "guardrail \"net.ipv4.ip_local_port_range\" {\n  max_step = 15384\n  reserve = "+reserve+"\n}\n")
		got := widenPortRange(advisor.PortRange{Low: 40000, High: 40999}, 65536, set.portRangeLimits(sc, advisor.PortRange{Low: 40000, High: 40999}))
		if got.Low != 40000 || got.High != wantHigh {
			t.Errorf("reserve %s: widened to %v, want 40000 %d", reserve, got, wantHigh)
		}
	}
}
