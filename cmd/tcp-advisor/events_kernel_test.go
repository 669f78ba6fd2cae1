package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
)

// withoutBPF runs a command with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN
// dropped from its bounding set: the kernel refuses the events program.
func withoutBPF(name string, args ...string) (string, []string) {
	return "setpriv", append([]string{"--inh-caps=-bpf,-perfmon,-sys_admin", "--bounding-set=-bpf,-perfmon,-sys_admin", "--", name}, args...)
}

// TestKernelEventsRefused: where the kernel refuses the events program,
// diagnose and status work as before and say why, in text and JSON; with
// the capabilities the same commands have the events.
func TestKernelEventsRefused(t *testing.T) {
	advisorBin, _ := binaries(t)
	netnstest.RequireTools(t, "setpriv")
	ns := netnstest.New(t)
	const why = "kernel events unavailable: CAP_BPF and CAP_PERFMON missing"
	tests := []struct {
		name    string
		refused bool
	}{{"refused", true}, {"allowed", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := func(args ...string) string {
				name := advisorBin
				if tt.refused {
					name, args = withoutBPF(advisorBin, args...)
				}
				return ns.MustRun(t, name, args...)
			}
			var d struct {
				Events struct {
					Available   bool   `json:"available"`
					Unavailable string `json:"unavailable"`
				} `json:"events"`
			}
			if err := json.Unmarshal([]byte(run("diagnose", "--format", "json")), &d); err != nil {
				t.Fatal(err)
			}
			text := run("diagnose")
			status := run("status", "--state-dir", t.TempDir())
			var s struct {
				Events *struct {
					Available   bool   `json:"available"`
					Unavailable string `json:"unavailable"`
				} `json:"events"`
			}
			if err := json.Unmarshal([]byte(run("status", "--format", "json", "--state-dir", t.TempDir())), &s); err != nil {
				t.Fatal(err)
			}
			if s.Events == nil || *s.Events != d.Events {
				t.Errorf("status JSON events %+v, want diagnose's %+v", s.Events, d.Events)
			}
			if tt.refused {
				if d.Events.Available || d.Events.Unavailable != why || !strings.Contains(text, why) || !strings.Contains(status, why) {
					t.Errorf("events %+v\ndiagnose:\n%s\nstatus:\n%s", d.Events, text, status)
				}
				return
			}
			if !d.Events.Available || d.Events.Unavailable != "" || strings.Contains(text+status, "unavailable") || !strings.Contains(status, "kernel events: available") {
				t.Errorf("events %+v\ndiagnose:\n%s\nstatus:\n%s", d.Events, text, status)
			}
		})
	}
}
