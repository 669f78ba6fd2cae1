package policies

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must never panic, a set
// comes back exactly when there is no error, every diagnostic has a
// position, and a set that loads must evaluate without panicking.
func FuzzLoad(f *testing.F) {
	for _, src := range DefaultFiles() {
		f.Add(src)
	}
	seeds, _ := filepath.Glob("testdata/invalid/*.hcl")
	more, _ := filepath.Glob("testdata/invalid/*/*.hcl")
	for _, p := range append(seeds, more...) {
		if src, err := os.ReadFile(p); err == nil {
			f.Add(src)
		}
	}
	for _, s := range []string{
		"",
		"rule \"r\" {\n  when = worst.utilization > 0.5\n  message = \"${percent(worst.utilization)}\"\n}\n",
		"rule \"r\" {\n  when = true\n  message = \"m\"\n  set \"net.ipv4.ip_local_port_range\" {\n    value = widen_port_range(sysctl.ip_local_port_range, 1e9)\n  }\n}\n",
		"rule \"r\" {\n  when = pow(-1, 0.5) > 0\n  message = \"m\"\n}\n",
		"guardrail \"net.ipv4.ip_local_port_range\" {\n  min = 1e30\n  cooldown = -1\n}\n",
		"agent {\n  interval = 1e300\n}\n",
		"rule \"r\" {\n  when = [for s in close_wait.stuck_sockets : s.local][0] == \"\"\n  advice = \"%{ for d in destinations }${d.remote}%{ endfor }\"\n}\n",
	} {
		f.Add([]byte(s))
	}
	observations := []observation{{}, idleHost(), exhaustedHost()}
	f.Fuzz(func(t *testing.T, src []byte) {
		set, diags := load(nil, []source{{name: "fuzz.hcl", src: src}})
		if (set == nil) != diags.HasErrors() {
			t.Fatalf("set %v with diagnostics:\n%s", set != nil, diagString(diags))
		}
		for _, d := range diags {
			if d.Subject == nil || d.Subject.Filename != "fuzz.hcl" {
				t.Fatalf("diagnostic without a position: %s; %s", d.Summary, d.Detail)
			}
		}
		FormatDiagnostics(io.Discard, diags)
		if set == nil {
			return
		}
		for _, o := range observations {
			recs, diags := set.Evaluate(o.Snapshot, o.Findings)
			FormatDiagnostics(io.Discard, diags)
			for _, r := range recs {
				for _, c := range r.Changes {
					// Rules may propose anything settable; the guard decides.
					if err := advisor.CheckSettable(c.Key); err != nil {
						t.Fatalf("rule %s proposes %s, which no rule may set: %v", r.Rule, c.Key, err)
					}
				}
			}
		}
	})
}

// FuzzEvaluate runs the default policies over observations with arbitrary
// but well-formed numbers: no panic, no evaluation error, and every
// proposed value is within the registry's bounds; a port range only raises
// its high end.
func FuzzEvaluate(f *testing.F) {
	f.Add(uint16(40000), uint16(40999), uint16(900), 300.0, 5.0, uint32(880), uint8(0), uint32(0), uint32(0), 0.0, uint32(0), int32(0), uint32(0))
	f.Add(uint16(32768), uint16(60999), uint16(3), 0.5, 0.0, uint32(2), uint8(2), uint32(2000), uint32(1500), 50.0, uint32(412), int32(40), uint32(380))
	f.Add(uint16(1024), uint16(65535), uint16(65000), 1e6, -3.0, uint32(1e6), uint8(1), uint32(1e6), uint32(1e6), 1e9, uint32(1e6), int32(-1e6), uint32(1e6))
	f.Add(uint16(0), uint16(0), uint16(0), 0.0, 0.0, uint32(0), uint8(0), uint32(0), uint32(0), 0.0, uint32(0), int32(0), uint32(0))
	set := Default()
	f.Fuzz(func(t *testing.T, low, high, inUse uint16, activeRate, growth float64, outgoing uint32, twReuse uint8,
		finWait2, orphans uint32, overflow float64, closeWait uint32, cwGrowth int32, stuck uint32) {
		if low > high {
			low, high = high, low
		}
		o := idleHost()
		o.setSysctl(advisor.KeyTwReuse, fmt.Sprint(twReuse%3))
		o.setPortRange(int(low), int(high))
		o.setWorst(int(min(int(inUse), o.Findings.Ports.Usable)), int(outgoing), ptr(finite(growth)))
		o.setActiveOpens(max(finite(activeRate), 0))
		o.Findings.TimeWait.Outgoing = ptr(int(outgoing))
		o.Findings.TimeWait.Count = int(outgoing)
		o.Findings.TimeWait.OverflowDelta = max(finite(overflow), 0)
		o.Findings.FinWait2.Count = int(finWait2)
		o.Findings.Orphans.Count = int(orphans)
		o.Findings.CloseWait.Count = int(closeWait)
		o.Findings.CloseWait.Growth = int(cwGrowth)
		o.Findings.CloseWait.Stuck = ptr(int(stuck))
		o.Findings.Queues.ListenOverflowsDelta = max(finite(overflow), 0)

		recs, diags := set.Evaluate(o.Snapshot, o.Findings)
		if diags.HasErrors() {
			t.Fatalf("default policies fail:\n%s", diagString(diags))
		}
		for _, r := range recs {
			for _, c := range r.Changes {
				if k, _ := advisor.LookupSysctl(c.Key); k.Check(c.Value) != nil && c.Key != advisor.KeyPortRange {
					t.Fatalf("%s proposes %s=%q: %v", r.Rule, c.Key, c.Value, k.Check(c.Value))
				}
				if c.Key == advisor.KeyPortRange {
					pr, err := advisor.ParsePortRange(c.Value)
					if err != nil || pr.Low != int(low) || pr.High < int(high) {
						t.Fatalf("%s does not raise the high end of %d-%d", c.Value, low, high)
					}
				}
			}
		}
	})
}

// FuzzWidenPortRange checks widenPortRange's invariants on any input.
func FuzzWidenPortRange(f *testing.F) {
	f.Add(40000, 40999, int64(2000), 1024, 65535, int64(0))
	f.Add(1024, 65535, int64(1e9), 1024, 65535, int64(16384))
	f.Add(5, 3, int64(10), 0, 10, int64(1))
	f.Fuzz(func(t *testing.T, lo, hi int, target int64, floor, ceiling int, step int64) {
		if lo < 0 || hi > 65535 || lo > hi {
			return
		}
		l := widenLimits{floor: floor, ceiling: ceiling, maxStep: step}
		cur := advisor.PortRange{Low: lo, High: hi}
		got := widenPortRange(cur, target, l)
		if got.Low > cur.Low || got.High < cur.High {
			t.Fatalf("%v shrinks %v", got, cur)
		}
		if got == cur {
			return
		}
		if got.Low < floor || got.High > ceiling || got.Low >= got.High {
			t.Fatalf("%v leaves the limits %+v", got, l)
		}
		if step > 0 && int64(got.Size()-cur.Size()) > step {
			t.Fatalf("%v grows %v by more than %d", got, cur, step)
		}
	})
}
