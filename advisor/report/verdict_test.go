package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

func findings(mut func(f *advisor.Findings)) advisor.Findings {
	f := advisor.Findings{
		Samples: 2, WindowSeconds: 10, States: map[string]int{}, StatesComplete: true,
		Ports:     advisor.PortFindings{Range: advisor.PortRange{Low: 40000, High: 40999}, Size: 1000, Usable: 1000},
		TimeWait:  advisor.TimeWaitFindings{MaxBuckets: 131072},
		FinWait2:  advisor.FinWait2Findings{MaxOrphans: 65536, FinTimeout: 60},
		CloseWait: advisor.CloseWaitFindings{Pattern: advisor.PatternNone},
	}
	zero := 0.0
	f.Connections.ActiveOpensPerSecond, f.Connections.PassiveOpensPerSecond, f.Connections.TimeWaitDemand = &zero, &zero, &zero
	if mut != nil {
		mut(&f)
	}
	return f
}

func byTopic(vs []Verdict) map[string]Verdict {
	out := map[string]Verdict{}
	for _, v := range vs {
		out[v.Topic] = v
	}
	return out
}

func TestVerdicts(t *testing.T) {
	stuck := 40
	tests := []struct {
		name    string
		f       advisor.Findings
		topic   string
		level   Level
		appBug  bool
		mention []string
	}{
		{"idle ports", findings(nil), "ephemeral-ports", OK, false, []string{"No destination can run out"}},
		{"near exhaustion", findings(func(f *advisor.Findings) {
			f.Connections.Worst = &advisor.DestinationUse{Local: "10.0.0.1", Remote: "10.0.0.2:80", PortsInUse: 950, PortsUsable: 1000, Utilization: 0.95, Headroom: 50}
		}), "ephemeral-ports", Critical, false, []string{"EADDRNOTAVAIL", "950 of 1000", "tcp_fin_timeout does not shorten TIME_WAIT"}},
		{"close-wait leak", findings(func(f *advisor.Findings) {
			f.CloseWait = advisor.CloseWaitFindings{Count: 50, Growth: 10, Stuck: &stuck, Remotes: 1, Pattern: advisor.PatternOneRemote,
				ByOwner:  []advisor.OwnerCount{{PID: 7, Command: "api", Unit: "api.service", Count: 50}},
				ByRemote: []advisor.RemoteCount{{Remote: "10.9.9.9", Count: 50}}}
		}), "close-wait", Critical, true, []string{"api (pid 7, unit api.service)", "10.9.9.9", "no sysctl ends CLOSE_WAIT"}},
		{"fin-wait2 build-up", findings(func(f *advisor.Findings) { f.FinWait2.Count, f.FinWait2.Orphaned = 5000, 5000 }), "fin-wait2", Warning, false, []string{"tcp_fin_timeout", "tcp_max_tw_buckets"}},
		{"fin-wait2 held by the application", findings(func(f *advisor.Findings) { f.FinWait2.Count = 5000 }), "fin-wait2", OK, false, []string{"5000"}},
		{"bind() short, destinations fine", findings(func(f *advisor.Findings) {
			f.Ports.DistinctInUse, f.Ports.BindUtilization = 950, 0.95
			f.Connections.Worst = &advisor.DestinationUse{Remote: "10.0.0.2:80", PortsInUse: 50, PortsUsable: 1000, Utilization: 0.05}
		}), "ephemeral-ports", Critical, false, []string{"bind()", "IP_BIND_ADDRESS_NO_PORT", "950 distinct ports"}},
		{"tw overflow", findings(func(f *advisor.Findings) { f.TimeWait.OverflowDelta = 12 }), "time-wait", Warning, false, []string{"tcp_max_tw_buckets"}},
		{"listen overflow", findings(func(f *advisor.Findings) { f.Queues.ListenOverflowsDelta = 3 }), "queues", Warning, false, []string{"somaxconn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := byTopic(Verdicts(tt.f))[tt.topic]
			if v.Level != tt.level || v.AppBug != tt.appBug {
				t.Errorf("level %s app_bug %v, want %s %v: %+v", v.Level, v.AppBug, tt.level, tt.appBug, v)
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

// TestNoTimeWaitAdviceBlamesFinTimeout: only the FIN_WAIT2 verdict may
// recommend tcp_fin_timeout (DESIGN §3.3).
func TestNoTimeWaitAdviceBlamesFinTimeout(t *testing.T) {
	f := findings(func(f *advisor.Findings) {
		f.Connections.Worst = &advisor.DestinationUse{Remote: "10.0.0.2:80", PortsInUse: 999, PortsUsable: 1000, Utilization: 0.999}
		f.TimeWait.OverflowDelta = 5
	})
	for _, v := range Verdicts(f) {
		if v.Topic != "fin-wait2" && strings.Contains(v.Action, "Lower net.ipv4.tcp_fin_timeout") {
			t.Errorf("%s recommends tcp_fin_timeout: %s", v.Topic, v.Action)
		}
	}
}

func TestDiagnosisJSONShape(t *testing.T) {
	var buf bytes.Buffer
	snap := advisor.Snapshot{Sysctls: advisor.Sysctls{PortRange: advisor.PortRange{Low: 32768, High: 60999}}}
	if err := NewDiagnosis(advisor.Analyze([]advisor.Snapshot{snap})).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"states", "destinations", "close_wait", "ports", "connections", "verdicts"} {
		if _, ok := m[key]; !ok {
			t.Errorf("JSON lacks %q", key)
		}
	}
	if cw := m["close_wait"].(map[string]any); cw["by_owner"] == nil {
		t.Error("close_wait.by_owner is null, want an array")
	}
}
