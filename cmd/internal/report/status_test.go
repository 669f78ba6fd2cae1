package report

import (
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// TestStatusTextExplainsTheProblem: a corrupt file's status lists what was
// salvaged and points at rollback; a newer version's says nothing is read
// and rollback leaves it alone, without claiming to manage nothing.
func TestStatusTextExplainsTheProblem(t *testing.T) {
	tests := []struct {
		name      string
		status    remediate.Status
		want, not []string
	}{
		{"corrupt", remediate.Status{StateProblem: "state file x is corrupt", Managed: []remediate.KeyStatus{{Key: "net.ipv4.tcp_tw_reuse", Original: "2"}}},
			[]string{"STATE FILE PROBLEM: state file x is corrupt", "what could still be read", "net.ipv4.tcp_tw_reuse"},
			[]string{"leaves it and every sysctl alone"}},
		{"rolled back", remediate.Status{Managed: []remediate.KeyStatus{}, RolledBack: []remediate.RolledBack{{
			Record: remediate.Record{Key: "net.ipv4.ip_local_port_range", To: "32768 60999"}, Next: "run the agent with --mode dry-run"}}},
			[]string{"Rolled back net.ipv4.ip_local_port_range", `to "32768 60999", no longer managed`, "--mode dry-run"},
			[]string{"STATE FILE PROBLEM"}},
		{"newer", remediate.Status{StateProblem: "state file x has version 2", StateNewer: true},
			[]string{"STATE FILE PROBLEM: state file x has version 2", "rollback leaves it and every sysctl alone"},
			[]string{"manages no sysctl", "restores their"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := WriteStatusText(&b, tt.status); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("lacks %q:\n%s", w, b.String())
				}
			}
			for _, n := range tt.not {
				if strings.Contains(b.String(), n) {
					t.Errorf("says %q:\n%s", n, b.String())
				}
			}
		})
	}
}

// TestStatusJSONSaysEvents: status JSON has the events' availability in
// diagnose's words, beside the status's own keys.
func TestStatusJSONSaysEvents(t *testing.T) {
	const why = "kernel events unavailable: CAP_BPF and CAP_PERFMON missing"
	tests := []struct {
		name string
		ev   KernelEvents
		want string
	}{
		{"refused", KernelEvents{Unavailable: why}, `"events": {
    "available": false,
    "unavailable": "` + why + `"
  }`},
		{"available", KernelEvents{Available: true}, `"events": {
    "available": true
  }`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := WriteStatusJSON(&b, remediate.Status{Version: "1.2.3", Managed: []remediate.KeyStatus{}}, tt.ev); err != nil {
				t.Fatal(err)
			}
			for _, w := range []string{tt.want, `"version": "1.2.3"`, `"managed": []`} {
				if !strings.Contains(b.String(), w) {
					t.Errorf("lacks %s:\n%s", w, b.String())
				}
			}
		})
	}
}
