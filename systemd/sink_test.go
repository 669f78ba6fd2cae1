package systemd

import (
	"errors"
	"maps"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
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
		{name: "policy warning", e: event.PolicyWarning{Summary: "Interval too short", Detail: "1s ticks cost CPU"},
			want: []Event{{Kind: EventPolicyLoaded, Priority: PriorityWarning, Message: "policy warning: Interval too short: 1s ticks cost CPU",
				Fields: map[string]string{FieldReason: "1s ticks cost CPU"}}}},
		{name: "persistence not written", e: event.PersistNotWritten{Why: "/etc/sysctl.d/90-tcp-advisor.conf is not written"},
			want: []Event{{Kind: EventPolicyLoaded, Priority: PriorityWarning, Message: "policy asks for persistence: /etc/sysctl.d/90-tcp-advisor.conf is not written"}}},
		{name: "enforce refused", e: event.EnforceRefused{Mode: advisor.ModeEnforce, Err: errors.New("net.ipv4.tcp_tw_reuse: read-only file system")},
			want: []Event{{Kind: EventPolicyRejected,
				Message: "policy rejected, previous policy stays in force: enforce mode needs to write the sysctls its rules set, and this process may not: net.ipv4.tcp_tw_reuse: read-only file system; " +
					"run tcp-advisor as root (or with CAP_NET_ADMIN over this network namespace) where /proc/sys is writable, or in dry-run mode",
				Fields: map[string]string{FieldMode: "enforce", FieldReason: "net.ipv4.tcp_tw_reuse: read-only file system"}}}},
		{name: "managed keys unchecked", e: event.ManagedKeysUnchecked{Err: errors.New("state.json: input/output error")},
			want: []Event{{Kind: EventChangeFailed, Message: "checking managed keys: state.json: input/output error"}}},
		{name: "namespace not watched", e: event.NamespaceNotWatched{Netns: "net:[4026532999]", Err: errors.New("permission denied")},
			want: []Event{{Kind: EventObservationFailed, Message: "network namespace net:[4026532999] not watched: permission denied"}}},
		{name: "discovery failed", e: event.DiscoveryFailed{Err: errors.New("open /proc: too many open files")},
			want: []Event{{Kind: EventObservationFailed, Message: "discovering network namespaces: open /proc: too many open files"}}},
		{name: "flight recorder failing", e: event.FlightRecorderFailing{Dir: "/var/lib/tcp-advisor/flight", Err: errors.New("no space left on device")},
			want: []Event{{Kind: EventStateStore, Priority: PriorityWarning, Message: "flight recorder cannot keep frames: no space left on device",
				Fields: map[string]string{FieldReason: "no space left on device", FieldStateFile: "/var/lib/tcp-advisor/flight"}}}},
		{name: "flight recorder recovered", e: event.FlightRecorderRecovered{Dir: "/var/lib/tcp-advisor/flight"},
			want: []Event{{Kind: EventStateStore, Message: "flight recorder keeps frames again in /var/lib/tcp-advisor/flight"}}},
		{name: "recording failed", e: event.RecordingFailed{For: "critical finding: ports", Dir: "/f", Err: errors.New("no space left on device")},
			want: []Event{{Kind: EventStateStore, Priority: PriorityWarning, Message: "flight recorder: no recording of the critical finding: ports: no space left on device",
				Fields: map[string]string{FieldReason: "no space left on device", FieldStateFile: "/f"}}}},
		{name: "state salvaged", e: event.StateSalvaged{Problem: "state file /s/state.json is corrupt (unexpected EOF); no managed key could be read from it",
			Err: errors.New("unexpected EOF"), Aside: "/s/state.json.corrupt-1"},
			want: []Event{{Kind: EventStateStore,
				Message: "state file /s/state.json is corrupt (unexpected EOF); no managed key could be read from it; moved it aside to /s/state.json.corrupt-1 and wrote a new state with what was salvaged",
				Fields:  map[string]string{FieldReason: "unexpected EOF", FieldStateFile: "/s/state.json.corrupt-1"}}}},
		{name: "state carried over a reboot", e: event.StateCarriedOver{Dir: "/s", DropIn: "/etc/sysctl.d/90-tcp-advisor.conf", File: "/s/state.json"},
			want: []Event{{Kind: EventStateStore, Priority: PriorityNotice,
				Message: "the state in /s was recorded on an earlier boot; /etc/sysctl.d/90-tcp-advisor.conf re-applied its values at this boot, so tcp-advisor goes on managing them",
				Fields:  map[string]string{FieldReason: "carried over a reboot by /etc/sysctl.d/90-tcp-advisor.conf", FieldStateFile: "/s/state.json"}}}},
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

// TestJournalSinkInNamespace: a sink bound to another namespace than the
// host's names it (and its container) in each entry; a change made or
// proposed in a container's namespace says how its platform keeps it.
func TestJournalSinkInNamespace(t *testing.T) {
	pod := &netns.Namespace{Inode: 4026532999, Container: &netns.Container{Runtime: "containerd", ID: "abc", PodUID: "0b7c"}}
	plain := &netns.Namespace{Inode: 4026533000, Name: "blue"}
	host := &netns.Namespace{Inode: 4026531840, Host: true}
	change := event.Change{Rule: "r", Key: "net.ipv4.tcp_tw_reuse", From: "2", To: "1", Reason: "why", Platform: "keep it so"}
	podFields := map[string]string{FieldNetns: pod.String(), FieldNetnsInode: "4026532999", FieldContainer: pod.Container.String()}
	tests := []struct {
		name   string
		ns     *netns.Namespace
		e      event.Event
		prefix string
		fields map[string]string
		suffix string
	}{
		{"applied in a pod", pod, event.ChangeApplied{Change: change}, "[netns " + pod.String() + "] ",
			merge(podFields, map[string]string{FieldPlatform: "keep it so"}), "; keep it so"},
		{"recommended in a pod", pod, event.ChangeRecommended{Change: change}, "[netns " + pod.String() + "] ",
			merge(podFields, map[string]string{FieldPlatform: "keep it so"}), "; keep it so"},
		{"failed in a pod has no platform", pod, event.ChangeFailed{Change: change, Err: errors.New("EPERM")}, "[netns " + pod.String() + "] ",
			podFields, "the group was left as it was"},
		{"no fields of its own", pod, event.DiscoveryFailed{Err: errors.New("x")}, "[netns " + pod.String() + "] ", podFields, ": x"},
		{"a named namespace", plain, event.KeyReleased{Key: "k", Expected: "1", Found: "0"}, "[netns blue] ",
			map[string]string{FieldNetns: "blue", FieldNetnsInode: "4026533000"}, "no longer managing it"},
		{"the host's is not named", host, event.ChangeApplied{Change: change}, "set ", map[string]string{FieldPlatform: "keep it so"}, "; keep it so"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log eventLog
			JournalSink{Log: &log, Netns: tt.ns}.Emit(tt.e)
			if len(log.got) != 1 {
				t.Fatalf("logged %d entries, want 1", len(log.got))
			}
			e := log.got[0]
			if !strings.HasPrefix(e.Message, tt.prefix) || !strings.HasSuffix(e.Message, tt.suffix) {
				t.Errorf("message %q, want it to start with %q and end with %q", e.Message, tt.prefix, tt.suffix)
			}
			for k, v := range tt.fields {
				if e.Fields[k] != v {
					t.Errorf("%s = %q, want %q", k, e.Fields[k], v)
				}
			}
			for _, k := range []string{FieldNetns, FieldNetnsInode, FieldContainer, FieldPlatform} {
				if _, want := tt.fields[k]; !want && e.Fields[k] != "" {
					t.Errorf("%s = %q, want none", k, e.Fields[k])
				}
			}
		})
	}
}

// merge returns the fields of a and b.
func merge(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}
