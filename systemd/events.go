package systemd

import (
	"fmt"

	"github.com/coreos/go-systemd/v22/journal"
)

// EventKind is a kind of event the agent logs. Each kind has a fixed
// MESSAGE_ID, explained in tcp-advisor.catalog, so that
// `journalctl MESSAGE_ID=...` finds every event of a kind across versions.
type EventKind int

// The event kinds. The zero value is not a kind: an Event must name one.
const (
	_ EventKind = iota
	// EventRecommendation: a rule proposes a change or gives advice (dry-run, or advice-only rules).
	EventRecommendation
	// EventChangeApplied: a sysctl was written in enforce mode and read back.
	EventChangeApplied
	// EventChangeRefused: a planned change was refused by a guardrail or a cooldown.
	EventChangeRefused
	// EventChangeFailed: a write failed, or read back a different value.
	EventChangeFailed
	// EventChangeRolledBack: an applied change was restored to its recorded original value.
	EventChangeRolledBack
	// EventKeyReleased: someone else changed a sysctl the agent manages;
	// the agent keeps their value and releases the key.
	EventKeyReleased
	// EventPolicyLoaded: a policy set was compiled and is now in force.
	EventPolicyLoaded
	// EventPolicyRejected: a policy file failed to compile; the previous set stays in force.
	EventPolicyRejected
	// EventCloseWaitLeak: a process holds growing or stuck CLOSE_WAIT sockets.
	EventCloseWaitLeak
	// EventObservationFailed: a tick could not read the kernel's state.
	EventObservationFailed
	// EventAgentStarted: the agent finished its first tick and is ready.
	EventAgentStarted
	// EventAgentStopped: the agent is shutting down.
	EventAgentStopped
	// EventReloaded: a reload (SIGHUP) finished.
	EventReloaded
	// EventMetricsFailed: the metrics textfile could not be written.
	EventMetricsFailed
	// EventStateStore: the state file cannot be read or written (corrupt,
	// from a newer version, directory read-only or full), was moved aside,
	// or works again. While it fails nothing is applied.
	EventStateStore
	// EventObservationDegraded: a source failed and a fallback was used
	// (sock_diag → /proc/net/tcp), or a source works again.
	EventObservationDegraded
	// EventStateMovedAside: the network namespace a state file records
	// no longer exists (an earlier boot, a container or pod recreated);
	// the file was moved aside and a new state started.
	EventStateMovedAside
	// EventAgentFailed: the agent could not start, or stopped on an
	// error; the message says why and the catalog what to do.
	EventAgentFailed
	// eventKindsEnd follows the last kind: a new kind goes before it.
	eventKindsEnd
)

// kindInfo is what is fixed about a kind. Message IDs were generated once
// (random UUIDs, dashes removed) and must never change: operators' queries
// and the catalog are keyed by them.
type kindInfo struct {
	name      string
	messageID string
	priority  Priority
}

var kinds = map[EventKind]kindInfo{
	EventRecommendation:      {"recommendation", "faf4328b5e474806858ba564f83e7c7b", PriorityNotice},
	EventChangeApplied:       {"change_applied", "843680454811498397eb12c4426fea0b", PriorityNotice},
	EventChangeRefused:       {"change_refused", "fd6ce922ae904edca612625f2f5f9256", PriorityWarning},
	EventChangeFailed:        {"change_failed", "e7c6c709a4e5422fb1b5f85a6d5567c4", PriorityErr},
	EventChangeRolledBack:    {"change_rolled_back", "ca53672fb298485393cf647bd006f95b", PriorityWarning},
	EventKeyReleased:         {"key_released", "e60e216059ae420b82c6ec82315a0871", PriorityWarning},
	EventPolicyLoaded:        {"policy_loaded", "ce65563384344cc489a6b8754b2672c7", PriorityInfo},
	EventPolicyRejected:      {"policy_rejected", "970b13267c0f4bbfac71c087b69ecace", PriorityErr},
	EventCloseWaitLeak:       {"close_wait_leak", "0303fe40b9d4426386abfda93d51e7c7", PriorityWarning},
	EventObservationFailed:   {"observation_failed", "aae586089ed846e9b5d2abb722846a9f", PriorityErr},
	EventAgentStarted:        {"agent_started", "ea46943b5d1843db8636cf0ebb8fa5b4", PriorityInfo},
	EventAgentStopped:        {"agent_stopped", "c0bbe1182f6a4eca822b5949d997d064", PriorityInfo},
	EventReloaded:            {"reloaded", "7ec2dd443ae1452698f4ac9c9d1c7ce3", PriorityInfo},
	EventMetricsFailed:       {"metrics_failed", "ed09a0bd0c644b60a1fa2d07079b9f17", PriorityWarning},
	EventStateStore:          {"state_store", "f00645886b614258bd86d049799485d1", PriorityErr},
	EventObservationDegraded: {"observation_degraded", "af78f97fcdc54c7e8bd74fb0bc977c70", PriorityWarning},
	EventStateMovedAside:     {"state_moved_aside", "d64085eeb070421e8016eab1b650c702", PriorityWarning},
	EventAgentFailed:         {"agent_failed", "6826069f8a0a48c8964cd103482172a9", PriorityErr},
}

// EventKinds returns every defined kind, in declaration order.
func EventKinds() []EventKind {
	out := make([]EventKind, 0, len(kinds))
	for k := EventRecommendation; k < eventKindsEnd; k++ {
		out = append(out, k)
	}
	return out
}

// Valid reports whether k is one of the defined kinds.
func (k EventKind) Valid() bool {
	_, ok := kinds[k]
	return ok
}

// MessageID is the kind's journal MESSAGE_ID: 32 lower-case hex digits, or
// "" for an undefined kind.
func (k EventKind) MessageID() string { return kinds[k].messageID }

// String is the kind's short name ("change_applied"), used in stderr lines.
func (k EventKind) String() string {
	if info, ok := kinds[k]; ok {
		return info.name
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// DefaultPriority is the priority an Event of this kind gets when it names
// none.
func (k EventKind) DefaultPriority() Priority { return kinds[k].priority }

// Priority is a syslog priority. Unlike journal.Priority, whose zero value is
// "emergency", the zero value here means "the kind's default".
type Priority int

// Priorities an agent has use for; emerg and alert are for the system itself.
const (
	PriorityDefault Priority = iota // the event kind's DefaultPriority
	PriorityDebug
	PriorityInfo
	PriorityNotice
	PriorityWarning
	PriorityErr
	PriorityCrit
)

var priorities = map[Priority]struct {
	journal journal.Priority
	name    string
}{
	PriorityDebug:   {journal.PriDebug, "debug"},
	PriorityInfo:    {journal.PriInfo, "info"},
	PriorityNotice:  {journal.PriNotice, "notice"},
	PriorityWarning: {journal.PriWarning, "warning"},
	PriorityErr:     {journal.PriErr, "err"},
	PriorityCrit:    {journal.PriCrit, "crit"},
}

// Journal is the journald/syslog numeric priority (PRIORITY=).
func (p Priority) Journal() journal.Priority { return priorities[p].journal }

// String is the syslog name of the priority ("warning").
func (p Priority) String() string {
	if v, ok := priorities[p]; ok {
		return v.name
	}
	return fmt.Sprintf("Priority(%d)", int(p))
}

// Journal field names the agent sets on its events, so that queries such as
// `journalctl -u tcp-advisor KEY=net.ipv4.ip_local_port_range` work.
const (
	FieldRule        = "RULE"        // policy rule name
	FieldKey         = "KEY"         // sysctl key, dotted form
	FieldOldValue    = "OLD_VALUE"   // value before a change
	FieldNewValue    = "NEW_VALUE"   // value after (or proposed by) a change
	FieldDestination = "DESTINATION" // remote address:port of the busiest tuple
	FieldUtilization = "UTILIZATION" // share of the usable port range in use, 0..1
	FieldPID         = "PID"         // process holding the sockets (not _PID, which is the agent's)
	FieldUnit        = "UNIT"        // systemd unit of that process
	FieldCommand     = "COMMAND"     // its command name
	FieldPolicyFile  = "POLICY_FILE" // policy file an event is about
	FieldPolicyLine  = "POLICY_LINE" // line in it
	FieldMode        = "MODE"        // dry-run or enforce
	FieldVersion     = "VERSION"     // the agent's version
	FieldGuardrail   = "GUARDRAIL"   // guardrail that refused a change
	FieldReason      = "REASON"      // why, with the numbers
	FieldNetns       = "NETNS"       // the network namespace an event is about: its name, container or net:[inode]
	FieldNetnsInode  = "NETNS_INODE" // that namespace's inode
	FieldContainer   = "CONTAINER"   // its container: runtime://id, and the pod UID
	FieldPlatform    = "PLATFORM"    // how to keep a change in that container's or pod's definition
	// FieldPolicyChecksum is the loaded policy set's checksum
	// (policies.Set.Checksum): hosts that report the same one run the same
	// policy files.
	FieldPolicyChecksum = "POLICY_CHECKSUM"
	FieldStateFile      = "STATE_FILE" // state file an event is about (or where it was moved)
	FieldErrno          = "ERRNO"      // errno name of a failed write, such as EINVAL
	// FieldRecording is the recording the flight recorder wrote when a
	// critical finding started or a change was applied: replay it with
	// `tcp-advisor plan --replay FILE`.
	FieldRecording = "RECORDING"
)

// Fields the Logger sets itself; an Event may not carry them.
var reservedFields = map[string]bool{
	"MESSAGE":           true,
	"MESSAGE_ID":        true,
	"PRIORITY":          true,
	"SYSLOG_IDENTIFIER": true,
}

// checkFieldName applies journald's own rule (journal_field_valid() in
// systemd's src/libsystemd/sd-journal/journal-file.c): 1 to 64 characters of
// [A-Z0-9_], not starting with a digit, and not with '_' (trusted fields are
// journald's). journald silently drops a field that breaks it, and
// journal.Send does not check, so the Logger does.
func checkFieldName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty journal field name")
	case len(name) > 64:
		return fmt.Errorf("journal field name %.20q...: longer than 64 characters", name)
	case name[0] == '_':
		return fmt.Errorf("journal field name %q: starts with '_' (reserved for journald's trusted fields)", name)
	case name[0] >= '0' && name[0] <= '9':
		return fmt.Errorf("journal field name %q: starts with a digit", name)
	case reservedFields[name]:
		return fmt.Errorf("journal field name %q: set by the logger itself", name)
	}
	for _, c := range name {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return fmt.Errorf("journal field name %q: only A-Z, 0-9 and '_' are allowed", name)
		}
	}
	return nil
}
