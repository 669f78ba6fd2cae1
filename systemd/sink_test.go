package systemd

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
)

// eventLog keeps the events logged.
type eventLog struct{ got []Event }

func (l *eventLog) Log(e Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	l.got = append(l.got, e)
	return nil
}

// TestJournalSink: each event becomes the journal entry of its kind with
// its fields; what is no news to the journal is not logged.
func TestJournalSink(t *testing.T) {
	change := event.Change{Rule: "reuse", Key: "net.ipv4.tcp_tw_reuse", From: "2", To: "1", Reason: "ports short"}
	worst := &advisor.DestinationUse{Remote: "10.0.0.7:443", Utilization: 0.91234}
	changeFields := map[string]string{FieldRule: "reuse", FieldKey: "net.ipv4.tcp_tw_reuse", FieldOldValue: "2",
		FieldNewValue: "1", FieldReason: "ports short", FieldMode: "enforce"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range changeFields {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	enforce := event.Context{Mode: advisor.ModeEnforce}
	tests := []struct {
		name string
		e    event.Event
		want []Event
	}{
		{name: "applied", e: event.ChangeApplied{Change: change, Context: event.Context{Mode: advisor.ModeEnforce, Worst: worst, Recording: "/var/lib/r.json"}},
			want: []Event{{Kind: EventChangeApplied, Message: `set net.ipv4.tcp_tw_reuse from "2" to "1" (rule reuse): ports short`,
				Fields: with(map[string]string{FieldDestination: "10.0.0.7:443", FieldUtilization: "0.9123", FieldRecording: "/var/lib/r.json"})}}},
		{name: "failed write names its errno", e: event.ChangeFailed{Change: change, Context: enforce, Err: errors.New("permission denied"), Errno: "EPERM"},
			want: []Event{{Kind: EventChangeFailed, Message: `did not set net.ipv4.tcp_tw_reuse to "1" (rule reuse): permission denied; the group was left as it was`,
				Fields: with(map[string]string{FieldReason: "permission denied", FieldErrno: "EPERM"})}}},
		{name: "failed after the write", e: event.ChangeFailed{Change: change, Context: enforce, Err: errors.New("state not saved"), Errno: "EIO", AfterWrite: true},
			want: []Event{{Kind: EventChangeFailed, Message: `net.ipv4.tcp_tw_reuse is "1" as planned, but state not saved`,
				Fields: with(map[string]string{FieldReason: "state not saved"})}}},
		{name: "refused", e: event.ChangeRefused{Change: change, Guardrail: "max", Bound: "max 1", Source: "p.hcl:3:5", Reason: "over the bound", Recording: "/r"},
			want: []Event{{Kind: EventChangeRefused, Message: `refused net.ipv4.tcp_tw_reuse "2" -> "1" (rule reuse) by guardrail max (max 1, p.hcl:3:5): over the bound`,
				Fields: map[string]string{FieldRule: "reuse", FieldKey: "net.ipv4.tcp_tw_reuse", FieldOldValue: "2", FieldNewValue: "1",
					FieldGuardrail: "max", FieldReason: "over the bound", FieldRecording: "/r"}}}},
		{name: "refused again is no news", e: event.ChangeRefused{Change: change, Guardrail: "max", Repeated: true}},
		{name: "a tick that observed is no news", e: event.TickDone{Took: time.Second}},
		{name: "a tick that could not observe", e: event.TickDone{Err: errors.New("netlink: EPERM")},
			want: []Event{{Kind: EventObservationFailed, Message: "observation failed: netlink: EPERM"}}},
		{name: "a failure said once for all ticks is not repeated", e: event.TickDone{Err: errors.New("setns: EPERM"), ErrAnnounced: true}},
		{name: "namespaces the agent may not enter", e: event.NamespaceEntryRefused{Netns: "lb-blue", Err: errors.New("setns: EPERM"), Remedy: "install the drop-in"},
			want: []Event{{Kind: EventObservationFailed, Message: "network namespaces not watched: cannot enter lb-blue: setns: EPERM; install the drop-in",
				Fields: map[string]string{FieldReason: "setns: EPERM"}}}},
		{name: "policy loaded", e: event.PolicyLoaded{Description: "2 rules", Files: []string{"/a.hcl", "/b.hcl"}, Checksum: "abc", Mode: advisor.ModeDryRun},
			want: []Event{{Kind: EventPolicyLoaded, Message: "policy loaded: 2 rules, checksum abc; the agent runs in dry-run mode",
				Fields: map[string]string{FieldMode: "dry-run", FieldPolicyFile: "/a.hcl,/b.hcl", FieldPolicyChecksum: "abc"}}}},
		{name: "policy rejected: one entry per problem", e: event.PolicyRejected{Problems: []event.PolicyProblem{
			{Summary: "Unsupported argument", Detail: "no foo here", File: "/a.hcl", Line: 3, Column: 5},
			{Summary: "No policy", Detail: "no file"}}},
			want: []Event{
				{Kind: EventPolicyRejected, Message: "/a.hcl:3:5: policy rejected, previous policy stays in force: Unsupported argument: no foo here",
					Fields: map[string]string{FieldReason: "Unsupported argument: no foo here", FieldPolicyFile: "/a.hcl", FieldPolicyLine: "3"}},
				{Kind: EventPolicyRejected, Message: "policy rejected, previous policy stays in force: No policy: no file",
					Fields: map[string]string{FieldReason: "No policy: no file"}}}},
		{name: "reloaded", e: event.Reloaded{Policy: "2 rules", Mode: advisor.ModeEnforce},
			want: []Event{{Kind: EventReloaded, Message: "reload finished: policy in force is 2 rules", Fields: map[string]string{FieldMode: "enforce"}}}},
		{name: "reload failed is an error", e: event.Reloaded{Policy: "2 rules", Mode: advisor.ModeEnforce, Err: errors.New("policies did not compile (1 errors)")},
			want: []Event{{Kind: EventReloaded, Priority: PriorityErr, Message: "reload failed, previous policy stays in force: policies did not compile (1 errors)",
				Fields: map[string]string{FieldMode: "enforce"}}}},
		{name: "connect failures started", e: event.ConnectFailuresStarted{Failures: 12, Window: 30 * time.Second, Worst: advisor.ConnFlow{
			PID: 42, Command: "curl", Unit: "job.service", Local: netip.MustParseAddr("10.0.0.1"), Remote: netip.MustParseAddrPort("10.0.0.7:443"),
			ConnTotals: advisor.ConnTotals{Failures: 9}}},
			want: []Event{{Kind: EventConnectFailures,
				Message: "connect() failures started: 12 connect() calls found no local port in the last 30 s, 9 of them 10.0.0.1 -> 10.0.0.7:443 by curl (pid 42, unit job.service)",
				Fields: map[string]string{FieldConnectFailures: "12", FieldDestination: "10.0.0.7:443", FieldCommand: "curl", FieldPID: "42", FieldUnit: "job.service",
					FieldReason: "12 connect() calls found no local port in the last 30 s, 9 of them 10.0.0.1 -> 10.0.0.7:443 by curl (pid 42, unit job.service)"}}}},
		{name: "connect failures stopped", e: event.ConnectFailuresStopped{Window: 30 * time.Second},
			want: []Event{{Kind: EventConnectFailures, Priority: PriorityNotice,
				Message: "connect() failures stopped: no connect() call failed for lack of a port in the last 30 s",
				Fields:  map[string]string{FieldReason: "no connect() call failed for lack of a port in the last 30 s"}}}},
		{name: "rollback seen in dry-run", e: event.RollbackSeen{RolledBack: event.RolledBack{Key: "net.ipv4.tcp_tw_reuse", From: "1", To: "2"}, Mode: advisor.ModeDryRun},
			want: []Event{{Kind: EventChangeRolledBack,
				Message: `net.ipv4.tcp_tw_reuse was rolled back from "1" to its original "2" by tcp-advisor rollback; the agent runs in dry-run mode here and only reports what it would change`,
				Fields: map[string]string{FieldKey: "net.ipv4.tcp_tw_reuse", FieldOldValue: "1", FieldNewValue: "2", FieldMode: "dry-run",
					FieldReason: "rollback seen by the agent"}}}},
		{name: "key released", e: event.KeyReleased{Key: "net.ipv4.tcp_tw_reuse", Expected: "1", Found: "0"},
			want: []Event{{Kind: EventKeyReleased,
				Message: `net.ipv4.tcp_tw_reuse changed outside tcp-advisor to "0" (tcp-advisor wrote "1"); keeping it and no longer managing it`,
				Fields:  map[string]string{FieldKey: "net.ipv4.tcp_tw_reuse", FieldOldValue: "1", FieldNewValue: "0"}}}},
		{name: "state moved aside", e: event.StateMovedAside{Reason: "namespace gone", Netns: "net:[4026531840]", Aside: "/var/lib/s.gone"},
			want: []Event{{Kind: EventStateMovedAside,
				Message: "namespace gone; moved it aside to /var/lib/s.gone and started a new state (it managed: none)",
				Fields:  map[string]string{FieldReason: "namespace gone", FieldStateFile: "/var/lib/s.gone", FieldNetns: "net:[4026531840]"}}}},
		{name: "change recommended", e: event.ChangeRecommended{Change: change, Severity: advisor.SeverityCritical,
			Context: event.Context{Mode: advisor.ModeDryRun, Recording: "/r"}},
			want: []Event{{Kind: EventRecommendation, Message: `dry-run: would set net.ipv4.tcp_tw_reuse from "2" to "1" (rule reuse): ports short`,
				Fields: with(map[string]string{FieldMode: "dry-run", FieldRecording: "/r"})}}},
		{name: "advice given", e: event.AdviceGiven{Rule: "leak", Message: "fix the app", Severity: advisor.SeverityWarning},
			want: []Event{{Kind: EventRecommendation, Message: "advice (rule leak, warning): fix the app",
				Fields: map[string]string{FieldRule: "leak", FieldReason: "fix the app"}}}},
		{name: "observation degraded", e: event.ObservationDegraded{Fallback: "sock_diag: EPERM; /proc/net/tcp read"},
			want: []Event{{Kind: EventObservationDegraded, Message: "observation degraded: sock_diag: EPERM; /proc/net/tcp read",
				Fields: map[string]string{FieldReason: "sock_diag: EPERM; /proc/net/tcp read"}}}},
		{name: "observation recovered", e: event.ObservationRecovered{Was: []string{"a", "b"}},
			want: []Event{{Kind: EventObservationDegraded, Priority: PriorityNotice, Message: "observation works fully again (was: a; b)",
				Fields: map[string]string{FieldReason: "recovered"}}}},
		{name: "state store failing", e: event.StoreFailing{Err: errors.New("read-only file system"), File: "/s/state.json",
			Retry: time.Second, MaxRetry: time.Minute, What: "see status"},
			want: []Event{{Kind: EventStateStore,
				Message: "state store failing: read-only file system; nothing is applied until it works again (retrying in 1s, then less and less often, up to every 1m0s); observing goes on; see status",
				Fields:  map[string]string{FieldReason: "read-only file system", FieldStateFile: "/s/state.json"}}}},
		{name: "state store recovered", e: event.StoreRecovered{Was: errors.New("read-only file system"), File: "/s/state.json"},
			want: []Event{{Kind: EventStateStore, Priority: PriorityNotice,
				Message: "state store works again: /s/state.json can be written; applying resumes",
				Fields:  map[string]string{FieldReason: "recovered from: read-only file system", FieldStateFile: "/s/state.json"}}}},
		{name: "rule skipped", e: event.RuleSkipped{Problem: event.PolicyProblem{Summary: "Division by zero", Detail: "x/0", File: "/a.hcl", Line: 9, Column: 3}, Recording: "/r"},
			want: []Event{{Kind: EventPolicyRejected, Message: "/a.hcl:9:3: rule skipped, the others still run: Division by zero: x/0",
				Fields: map[string]string{FieldReason: "Division by zero: x/0", FieldPolicyFile: "/a.hcl", FieldPolicyLine: "9", FieldRecording: "/r"}}}},
		{name: "CLOSE_WAIT leak", e: event.CloseWaitLeak{Top: advisor.OwnerCount{PID: 7, Command: "app", Unit: "app.service", Count: 40},
			Total: 50, Growth: 12, Stuck: 30, Pattern: "one-remote"},
			want: []Event{{Kind: EventCloseWaitLeak,
				Message: "CLOSE_WAIT leak: app (pid 7, unit app.service) holds 40 of 50 CLOSE_WAIT sockets, +12 over the window, 30 stuck, remote pattern one-remote; an application bug no sysctl fixes",
				Fields:  map[string]string{FieldPID: "7", FieldUnit: "app.service", FieldCommand: "app", FieldReason: "50 CLOSE_WAIT, pattern one-remote"}}}},
		{name: "agent started", e: event.AgentStarted{Version: "1.2.3", Mode: advisor.ModeDryRun, Interval: 5 * time.Second},
			want: []Event{{Kind: EventAgentStarted, Message: "tcp-advisor 1.2.3 running in dry-run mode, every 5s",
				Fields: map[string]string{FieldMode: "dry-run", FieldVersion: "1.2.3"}}}},
		{name: "agent stopping", e: event.AgentStopping{},
			want: []Event{{Kind: EventAgentStopped, Message: "tcp-advisor stopping; applied settings stay as they are (rollback is an explicit command)"}}},
		{name: "metrics failing", e: event.MetricsFailing{Err: errors.New("disk full")},
			want: []Event{{Kind: EventMetricsFailed, Message: "metrics not written: disk full", Fields: map[string]string{FieldReason: "disk full"}}}},
		{name: "metrics recovered", e: event.MetricsRecovered{},
			want: []Event{{Kind: EventMetricsFailed, Priority: PriorityInfo, Message: "metrics written again"}}},
		{name: "a rule firing is only counted", e: event.RuleFired{Rule: "reuse", Severity: advisor.SeverityWarning}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log eventLog
			JournalSink{Log: &log}.Emit(tt.e)
			if !reflect.DeepEqual(log.got, tt.want) {
				t.Errorf("logged\n%+v\nwant\n%+v", log.got, tt.want)
			}
		})
	}
}
