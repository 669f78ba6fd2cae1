package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/internal/netnstest"
	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

// withoutBPF runs a command with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN
// dropped from its bounding set: the kernel refuses the events program.
var withoutBPF = testbin.WithoutBPF

// TestKernelEventsRefused: where the kernel refuses the events program,
// diagnose and status work as before and say why, in text and JSON; with
// the capabilities the same commands have the events (in the refused pass
// of the kernel tests, where every tcp-advisor they start is refused, they
// say why too).
func TestKernelEventsRefused(t *testing.T) {
	advisorBin, _ := binaries(t)
	netnstest.RequireTools(t, "setpriv")
	ns := netnstest.New(t)
	tests := []struct {
		name    string
		refused bool
		why     string // the start of "kernel events unavailable: REASON"; "" for available
	}{
		{"refused", true, testbin.CapsDropped},
		{"allowed", false, eventsRefused(advisorBin)},
	}
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
			if tt.why != "" {
				why := d.Events.Unavailable
				if d.Events.Available || !strings.HasPrefix(why, tt.why) || !strings.Contains(text, why) || !strings.Contains(status, why) {
					t.Errorf("events %+v, want unavailable %q...\ndiagnose:\n%s\nstatus:\n%s", d.Events, tt.why, text, status)
				}
				return
			}
			if !d.Events.Available || d.Events.Unavailable != "" || strings.Contains(text+status, "unavailable") || !strings.Contains(status, "kernel events: available") {
				t.Errorf("events %+v\ndiagnose:\n%s\nstatus:\n%s", d.Events, text, status)
			}
		})
	}
}
