package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

func findings(mut func(f *advisor.Findings)) advisor.Findings {
	f := advisor.Findings{
		Window: advisor.WindowFindings{Samples: 2, Seconds: 10, StatesComplete: true, SocketsDumped: true}, States: map[string]int{},
		Ports:     advisor.PortFindings{Low: 40000, High: 40999, Size: 1000, Usable: 1000},
		TimeWait:  advisor.TimeWaitFindings{MaxBuckets: 131072},
		FinWait2:  advisor.FinWait2Findings{FinTimeout: 60},
		Orphans:   advisor.OrphanFindings{Max: 65536},
		CloseWait: advisor.CloseWaitFindings{Pattern: advisor.PatternNone},
	}
	zero := 0.0
	f.Connections.ActiveOpensPerSecond, f.Connections.PassiveOpensPerSecond, f.Connections.TimeWaitDemandBound = &zero, &zero, &zero
	if mut != nil {
		mut(&f)
	}
	return f
}

func byTopic(vs []Verdict) map[string]Verdict {
	out := map[string]Verdict{}
	for _, v := range vs {
		if _, seen := out[v.Topic]; !seen {
			out[v.Topic] = v
		}
	}
	return out
}

func rec(rule, topic string, severity advisor.Severity, summary string) policies.Recommendation {
	return policies.Recommendation{Rule: rule, Topic: topic, Severity: severity, Summary: summary, Advice: "do this",
		Source: hcl.Range{Filename: "default/x.hcl", Start: hcl.Pos{Line: 3, Column: 1}}}
}

func TestLevelsComeFromRulesOnly(t *testing.T) {
	full := findings(func(f *advisor.Findings) {
		f.Worst = &advisor.DestinationUse{Local: "10.0.0.1", Remote: "10.0.0.2:80", PortsInUse: 1000, PortsUnavailable: 1000,
			TimeWait: 1000, PortsUsable: 1000, Utilization: 1, Plateau: 1000, PlateauUtilization: 1, Full: true}
		f.TimeWait.Count = 1000
	})
	// Without a rule, even a full destination is reported, not graded.
	for _, v := range Verdicts(full, nil) {
		if v.Level != advisor.SeverityOK || v.Rule != "" {
			t.Errorf("%s graded %s without a rule", v.Topic, v.Level)
		}
		if strings.Contains(v.Summary, "not a problem") || strings.Contains(strings.ToLower(v.Summary), " fine") {
			t.Errorf("%s calls the figures fine: %s", v.Topic, v.Summary)
		}
	}
	vs := Verdicts(full, []policies.Recommendation{
		rec("time-wait-reuse", TopicTimeWait, advisor.SeverityWarning, "TIME_WAIT holds the ports"),
		rec("port-exhaustion", TopicPorts, advisor.SeverityCritical, "connect() runs short"),
	})
	if vs[0].Rule != "port-exhaustion" || vs[0].Level != advisor.SeverityCritical || vs[1].Rule != "time-wait-reuse" {
		t.Fatalf("not worst first: %+v", vs[:2])
	}
	got := byTopic(vs)[TopicPorts]
	if got.RuleSource != "default/x.hcl:3:1" || got.Action != "do this" || len(got.Math) == 0 {
		t.Errorf("rule verdict lacks source, action or arithmetic: %+v", got)
	}
	if !strings.Contains(strings.Join(got.Math, " "), "1000 unavailable of 1000 usable") {
		t.Errorf("arithmetic: %v", got.Math)
	}
}

func TestFacts(t *testing.T) {
	stuck := 40
	tests := []struct {
		name    string
		f       advisor.Findings
		topic   string
		appBug  bool
		mention []string
	}{
		{"idle ports", findings(nil), TopicPorts, false, []string{"no destination can run out"}},
		{"near exhaustion", findings(func(f *advisor.Findings) {
			secs := 12.0
			f.Worst = &advisor.DestinationUse{Local: "10.0.0.1", Remote: "10.0.0.2:80", PortsInUse: 950, PortsUnavailable: 950, PortsUsable: 1000,
				Utilization: 0.95, Headroom: 50, CloseRate: 20, HoldSeconds: 60, Plateau: 1200, PlateauUtilization: 1.2,
				SecondsToExhaustion: &secs, ExhaustionBasis: "TIME_WAIT arrivals minus expiries"}
		}), TopicPorts, false, []string{"950 unavailable of 1000", "plateau 1200", "runs out in 12 s"}},
		{"full, from the connection events", findings(func(f *advisor.Findings) {
			secs, opens, fails, failures, demand := 0.0, 800.0, 600.0, uint64(6000), 48000
			f.Worst = &advisor.DestinationUse{Local: "10.0.0.1", Remote: "10.0.0.2:80", PortsInUse: 1000, PortsUnavailable: 1000, PortsUsable: 1000,
				Utilization: 1, HoldSeconds: 60, Plateau: 48000, PlateauUtilization: 48, Full: true, SecondsToExhaustion: &secs, ExhaustionBasis: "no usable port left",
				OpensPerSecond: &opens, FailuresPerSecond: &fails, ConnectFailures: &failures, Demand: &demand,
				Openers: []advisor.Opener{{PID: 10, Command: "nginx", Unit: "nginx.service", Connected: 2000, Failures: 6000, OpensPerSecond: 800, FailuresPerSecond: 600}}}
		}), TopicPorts, false, []string{"the attempts measured below ask for 48000 ports", "800.0 connect() attempts/s towards it; 6000 connect() calls failed for lack of a port, 600.0 failed attempts/s; × 60 s held = demand 48000 ports; by nginx (pid 10, unit nginx.service) 800.0/s (600.0/s failed)"}},
		{"full, a Go client's immediate retries", findings(func(f *advisor.Findings) {
			secs, opens, fails, failures, retries, demand := 0.0, 10.0, 10.0, uint64(300), uint64(200), 600
			f.Worst = &advisor.DestinationUse{Local: "10.0.0.1", Remote: "10.0.0.2:80", PortsInUse: 1000, PortsUnavailable: 1000, PortsUsable: 1000,
				Utilization: 1, HoldSeconds: 60, Plateau: 1000, PlateauUtilization: 1, Full: true, SecondsToExhaustion: &secs, ExhaustionBasis: "no usable port left",
				OpensPerSecond: &opens, FailuresPerSecond: &fails, ConnectFailures: &failures, ConnectRetries: &retries, Demand: &demand,
				Openers: []advisor.Opener{{PID: 10, Command: "client", Failures: 300, Retries: 200, OpensPerSecond: 10, FailuresPerSecond: 10}}}
		}), TopicPorts, false, []string{"10.0 connect() attempts/s towards it; 300 connect() calls failed for lack of a port (200 of them immediate retries), 10.0 failed attempts/s; × 60 s held = demand 600 ports"}},
		{"close-wait", findings(func(f *advisor.Findings) {
			f.CloseWait = advisor.CloseWaitFindings{Count: 50, Growth: 10, Stuck: &stuck, Remotes: 1, Pattern: advisor.PatternOneRemote, UnreadEOF: 30, EOFRead: 20,
				ByOwner:  []advisor.OwnerCount{{PID: 7, Command: "api", Unit: "api.service", Count: 50}},
				ByRemote: []advisor.RemoteCount{{Remote: "10.9.9.9", Count: 50}}}
		}), TopicCloseWait, true, []string{"api (pid 7, unit api.service)", "10.9.9.9", "no sysctl ends CLOSE_WAIT", "30 with Recv-Q ≥ 1"}},
		{"bind()", findings(func(f *advisor.Findings) {
			f.Ports.BindSource, f.Ports.DistinctInUse, f.Ports.BindUtilization = "10.0.0.1", 950, 0.95
		}), TopicPorts, false, []string{"bind() to port 0 on 10.0.0.1", "950 distinct ports"}},
		{"rates", findings(nil), TopicRate, false, []string{"not any one destination's demand"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := byTopic(Verdicts(tt.f, nil))[tt.topic]
			if v.AppBug != tt.appBug {
				t.Errorf("app_bug %v, want %v: %+v", v.AppBug, tt.appBug, v)
			}
			text := v.Summary + " " + strings.Join(v.Math, " ") + " " + v.Action
			for _, m := range tt.mention {
				if !strings.Contains(text, m) {
					t.Errorf("verdict lacks %q: %s", m, text)
				}
			}
		})
	}
}

func TestDiagnosisText(t *testing.T) {
	f := findings(func(f *advisor.Findings) {
		f.CloseWait = advisor.CloseWaitFindings{Count: 300, Pattern: advisor.PatternOneRemote,
			ByOwner:  []advisor.OwnerCount{{PID: 7, Command: "evil\x1b[2J\nname", Unit: "api.service", Count: 300}},
			ByRemote: []advisor.RemoteCount{{Remote: "10.9.9.9", Count: 300}}}
	})
	sc := advisor.MustSysctls(map[string]string{advisor.KeyPortRange: "40000 40999", advisor.KeyTwReuse: "2"})
	d := NewDiagnosis(advisor.Snapshot{Sysctls: sc}, f, []policies.Recommendation{rec("close-wait-leak", TopicCloseWait, advisor.SeverityCritical, "leak")})
	var buf bytes.Buffer
	if err := d.WriteText(&buf, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	first, _, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(first, "CRITICAL: ") || !strings.Contains(first, "300 CLOSE_WAIT") || !strings.Contains(first, "rules: close-wait-leak") {
		t.Errorf("first line does not name the worst problem: %q", first)
	}
	if !strings.Contains(out, "tcp_tw_reuse 2 (loopback only)") {
		t.Error("the sysctls in play are not shown")
	}
	if strings.Contains(out, "\x1b") || !strings.Contains(out, `evil\x1b[2J\nname`) {
		t.Errorf("a hostile command name reached the terminal unescaped:\n%s", out)
	}
	if d.Level != advisor.SeverityCritical || d.Counts[advisor.SeverityCritical] != 1 {
		t.Errorf("level %s counts %v", d.Level, d.Counts)
	}
}

func TestWrap(t *testing.T) {
	got := wrap("  one two three four five six", 14, "    ")
	want := "  one two\n    three four\n    five six"
	if got != want {
		t.Errorf("wrap = %q, want %q", got, want)
	}
	if wrap("a b c", 0, "") != "a b c" {
		t.Error("width 0 wrapped")
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":         "nginx",
		"a\nb":          `a\nb`,
		"\x1b[31mred":   `\x1b[31mred`,
		"bad\xffutf8":   `bad\xffutf8`,
		`back\slash`:    `back\\slash`,
		"tab\there":     `tab\there`,
		"ünïcode ok":    "ünïcode ok",
		"zero\x00width": `zero\x00width`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDiagnosisJSONShape(t *testing.T) {
	var buf bytes.Buffer
	snap := advisor.Snapshot{Sysctls: advisor.MustSysctls(map[string]string{advisor.KeyPortRange: "32768 60999"})}
	if err := NewDiagnosis(snap, advisor.Analyze([]advisor.Snapshot{snap}), nil).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"level", "counts", "summary", "states", "destinations", "close_wait", "ports", "connections", "verdicts", "sysctls"} {
		if _, ok := m[key]; !ok {
			t.Errorf("JSON lacks %q", key)
		}
	}
	if cw := m["close_wait"].(map[string]any); cw["by_owner"] == nil {
		t.Error("close_wait.by_owner is null, want an array")
	}
	if m["level"] != "ok" {
		t.Errorf("level %v, want ok", m["level"])
	}
}

func TestCheck(t *testing.T) {
	worst := &advisor.DestinationUse{Local: "10.0.0.1", Remote: "10.0.0.2:80", PortsUnavailable: 950, PortsUsable: 1000, Utilization: 0.95, PlateauUtilization: 1.2}
	f := findings(func(f *advisor.Findings) { f.Worst = worst; f.TimeWait.Count = 940 })
	sc := advisor.MustSysctls(map[string]string{advisor.KeyPortRange: "40000 40999"})
	tests := []struct {
		recs   []policies.Recommendation
		word   string
		status int
	}{
		{nil, "OK", 0},
		{[]policies.Recommendation{rec("x", "x", advisor.SeverityInfo, "fyi")}, "OK", 0},
		{[]policies.Recommendation{rec("port-exhaustion", TopicPorts, advisor.SeverityWarning, "w")}, "WARNING", 1},
		{[]policies.Recommendation{rec("port-exhaustion", TopicPorts, advisor.SeverityCritical, "c")}, "CRITICAL", 2},
	}
	for _, tt := range tests {
		line, status := NewDiagnosis(advisor.Snapshot{Sysctls: sc}, f, tt.recs).Check()
		if status != tt.status || !strings.HasPrefix(line, "TCP-ADVISOR "+tt.word+" - busiest destination 10.0.0.1 → 10.0.0.2:80 at 95.0%") {
			t.Errorf("status %d: %s", status, line)
		}
		if strings.Count(line, "\n") != 0 || strings.Count(line, " | ") != 1 ||
			!strings.Contains(line, "'worst_utilization'=0.95;;;0;1") || !strings.Contains(line, "'time_wait'=940;;;0 ") {
			t.Errorf("not one line with performance data: %q", line)
		}
	}
}
