package systemd

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

func TestEventValidate(t *testing.T) {
	ok := Event{Kind: EventChangeApplied, Message: "widened"}
	withFields := func(f map[string]string) Event { e := ok; e.Fields = f; return e }
	tests := []struct {
		name    string
		event   Event
		wantErr string // substring; "" means valid
	}{
		{"minimal", ok, ""},
		{"agent fields", withFields(map[string]string{
			FieldRule: "widen", FieldKey: "net.ipv4.ip_local_port_range", FieldOldValue: "32768 60999",
			FieldNewValue: "10000 65000", FieldDestination: "10.0.0.1:443", FieldUtilization: "0.93",
			FieldPID: "42", FieldUnit: "nginx.service", FieldCommand: "nginx", FieldPolicyFile: "/etc/x.hcl",
			FieldPolicyLine: "3", FieldMode: "enforce", FieldGuardrail: "parity", FieldReason: "r",
		}), ""},
		{"digits and underscores", withFields(map[string]string{"A_1": "x", "X9_": "y"}), ""},
		{"64 characters", withFields(map[string]string{strings.Repeat("A", 64): "x"}), ""},
		{"lower case", withFields(map[string]string{"rule": "x"}), "only A-Z"},
		{"mixed case", withFields(map[string]string{"Old_Value": "x"}), "only A-Z"},
		{"dash", withFields(map[string]string{"OLD-VALUE": "x"}), "only A-Z"},
		{"dot", withFields(map[string]string{"NET.KEY": "x"}), "only A-Z"},
		{"space", withFields(map[string]string{"A B": "x"}), "only A-Z"},
		{"non-ASCII", withFields(map[string]string{"ÉTAT": "x"}), "only A-Z"},
		{"leading underscore", withFields(map[string]string{"_PID": "1"}), "starts with '_'"},
		{"leading digit", withFields(map[string]string{"1ST": "x"}), "starts with a digit"},
		{"empty name", withFields(map[string]string{"": "x"}), "empty journal field name"},
		{"65 characters", withFields(map[string]string{strings.Repeat("A", 65): "x"}), "longer than 64"},
		{"MESSAGE is the logger's", withFields(map[string]string{"MESSAGE": "x"}), "set by the logger"},
		{"MESSAGE_ID is the logger's", withFields(map[string]string{"MESSAGE_ID": "x"}), "set by the logger"},
		{"PRIORITY is the logger's", withFields(map[string]string{"PRIORITY": "3"}), "set by the logger"},
		{"undefined kind", Event{Message: "x"}, "undefined kind"},
		{"kind out of range", Event{Kind: 999, Message: "x"}, "undefined kind"},
		{"empty message", Event{Kind: EventReloaded, Message: " \n"}, "empty message"},
		{"undefined priority", Event{Kind: EventReloaded, Message: "x", Priority: 42}, "undefined priority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.event.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
			// An invalid event is never written, to either sink.
			var buf bytes.Buffer
			sent := false
			l := newLogger(func(string, journal.Priority, map[string]string) error { sent = true; return nil }, &buf)
			if err := l.Log(tt.event); err == nil {
				t.Error("Log() of an invalid event = nil")
			}
			if sent || buf.Len() > 0 {
				t.Errorf("invalid event written: sent=%v stderr=%q", sent, buf.String())
			}
		})
	}
}

// sendRecorder captures what Logger passes to journal.Send.
type sendRecorder struct {
	msg  string
	pri  journal.Priority
	vars map[string]string
	err  error
}

func (r *sendRecorder) send(msg string, pri journal.Priority, vars map[string]string) error {
	r.msg, r.pri, r.vars = msg, pri, vars
	return r.err
}

func TestLoggerJournal(t *testing.T) {
	tests := []struct {
		name    string
		event   Event
		wantPri journal.Priority
	}{
		{"kind default priority", Event{Kind: EventChangeRefused, Message: "refused", Fields: map[string]string{FieldGuardrail: "listening-port"}}, journal.PriWarning},
		{"explicit priority", Event{Kind: EventRecommendation, Message: "advice", Priority: PriorityDebug}, journal.PriDebug},
		{"leak names its process", Event{Kind: EventCloseWaitLeak, Message: "leak", Fields: map[string]string{FieldPID: "42", FieldUnit: "app.service", FieldCommand: "app"}}, journal.PriWarning},
		{"error kind", Event{Kind: EventPolicyRejected, Message: "bad.hcl:3: oops", Fields: map[string]string{FieldPolicyFile: "bad.hcl", FieldPolicyLine: "3"}}, journal.PriErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &sendRecorder{}
			var stderr bytes.Buffer
			l := newLogger(rec.send, &stderr)
			if !l.Journal() {
				t.Fatal("Journal() = false")
			}
			if err := l.Log(tt.event); err != nil {
				t.Fatal(err)
			}
			if rec.msg != tt.event.Message || rec.pri != tt.wantPri {
				t.Errorf("sent (%q, %d), want (%q, %d)", rec.msg, rec.pri, tt.event.Message, tt.wantPri)
			}
			if got := rec.vars["MESSAGE_ID"]; got != tt.event.Kind.MessageID() {
				t.Errorf("MESSAGE_ID = %q, want %q", got, tt.event.Kind.MessageID())
			}
			if got := rec.vars["SYSLOG_IDENTIFIER"]; got != Identifier {
				t.Errorf("SYSLOG_IDENTIFIER = %q", got)
			}
			for k, v := range tt.event.Fields {
				if rec.vars[k] != v {
					t.Errorf("field %s = %q, want %q", k, rec.vars[k], v)
				}
			}
			want := len(tt.event.Fields) + 2
			if pid, ok := tt.event.Fields[FieldPID]; ok {
				want++
				if rec.vars["OBJECT_PID"] != pid {
					t.Errorf("OBJECT_PID = %q, want %q", rec.vars["OBJECT_PID"], pid)
				}
			}
			if len(rec.vars) != want {
				t.Errorf("sent fields %v", rec.vars)
			}
			if tt.event.Fields != nil && tt.event.Fields["MESSAGE_ID"] != "" {
				t.Error("Log modified the caller's Fields map")
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr written while journal works: %q", stderr.String())
			}
		})
	}
}

func TestLoggerJournalFailureFallsBackToStderr(t *testing.T) {
	rec := &sendRecorder{err: errors.New("connection refused")}
	var stderr bytes.Buffer
	l := newLogger(rec.send, &stderr)
	l.now = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }
	err := l.Log(Event{Kind: EventAgentStopped, Message: "stopping"})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Log() = %v, want the send error", err)
	}
	if want := "2025-01-02T03:04:05Z info agent_stopped: stopping\n"; stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
}

func TestLoggerStderr(t *testing.T) {
	tests := []struct {
		name  string
		event Event
		want  string
	}{
		{"no fields", Event{Kind: EventAgentStarted, Message: "ready, mode dry-run"},
			"2025-01-02T03:04:05Z info agent_started: ready, mode dry-run\n"},
		{"fields sorted, spaces quoted", Event{Kind: EventChangeApplied, Message: "widened the port range", Fields: map[string]string{
			FieldNewValue: "10000 65000", FieldKey: "net.ipv4.ip_local_port_range", FieldOldValue: "32768\t60999", FieldRule: "widen"}},
			`2025-01-02T03:04:05Z notice change_applied: widened the port range KEY=net.ipv4.ip_local_port_range NEW_VALUE="10000 65000" OLD_VALUE="32768\t60999" RULE=widen` + "\n"},
		{"empty, quotes, equals", Event{Kind: EventPolicyRejected, Message: "line1\nline2", Fields: map[string]string{
			FieldReason: `said "no"`, FieldPolicyFile: "", FieldCommand: "a=b"}},
			`2025-01-02T03:04:05Z err policy_rejected: line1\nline2 COMMAND="a=b" POLICY_FILE="" REASON="said \"no\""` + "\n"},
		{"priority override", Event{Kind: EventCloseWaitLeak, Message: "leak", Priority: PriorityCrit, Fields: map[string]string{FieldPID: "42", FieldUnit: "app.service"}},
			"2025-01-02T03:04:05Z crit close_wait_leak: leak PID=42 UNIT=app.service\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			l := newLogger(nil, &stderr)
			l.now = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }
			if l.Journal() {
				t.Fatal("Journal() = true without a sender")
			}
			if err := l.Log(tt.event); err != nil {
				t.Fatal(err)
			}
			if stderr.String() != tt.want {
				t.Errorf("stderr:\n got %q\nwant %q", stderr.String(), tt.want)
			}
		})
	}
}

func TestNewLoggerWithoutJournal(t *testing.T) {
	// NewLogger picks journald only when its socket answers; either way a
	// valid event must be accepted.
	var stderr bytes.Buffer
	l := NewLogger(&stderr)
	if !l.Journal() {
		if err := l.Log(Event{Kind: EventReloaded, Message: "x"}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stderr.String(), " info reloaded: x") {
			t.Errorf("stderr = %q", stderr.String())
		}
	}
}

func TestEventKinds(t *testing.T) {
	idRE := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seenID := map[string]EventKind{}
	seenName := map[string]EventKind{}
	all := EventKinds()
	if len(all) != len(kinds) {
		t.Fatalf("EventKinds() has %d kinds, the table %d", len(all), len(kinds))
	}
	for _, k := range all {
		id := k.MessageID()
		if !idRE.MatchString(id) {
			t.Errorf("%v: MessageID %q is not 32 lower-case hex digits", k, id)
		}
		if prev, dup := seenID[id]; dup {
			t.Errorf("%v and %v share MessageID %s", k, prev, id)
		}
		seenID[id] = k
		if prev, dup := seenName[k.String()]; dup {
			t.Errorf("%v and %v share a name", k, prev)
		}
		seenName[k.String()] = k
		if k.DefaultPriority() == PriorityDefault {
			t.Errorf("%v has no default priority", k)
		}
	}
	if EventKind(0).Valid() || EventKind(0).MessageID() != "" {
		t.Error("the zero EventKind must be invalid")
	}
	if got := EventKind(99).String(); got != "EventKind(99)" {
		t.Errorf("String() of an undefined kind = %q", got)
	}
}

// TestJournalHostileText: a message quoting a name another user chose
// reaches journald escaped, on one line; the COMMAND field keeps the raw
// bytes (journald stores fields binary-safe).
func TestJournalHostileText(t *testing.T) {
	var gotMsg string
	var gotVars map[string]string
	l := newLogger(func(msg string, _ journal.Priority, vars map[string]string) error {
		gotMsg, gotVars = msg, vars
		return nil
	}, nil)
	name := "ev\n\x1b[2Jx\xff"
	if err := l.Log(Event{Kind: EventCloseWaitLeak, Message: "leak: " + name + " holds 3", Fields: map[string]string{FieldCommand: name}}); err != nil {
		t.Fatal(err)
	}
	if gotMsg != `leak: ev\n\x1b[2Jx\xff holds 3` {
		t.Errorf("MESSAGE = %q", gotMsg)
	}
	if gotVars[FieldCommand] != name {
		t.Errorf("COMMAND = %q, want the raw name", gotVars[FieldCommand])
	}
}
