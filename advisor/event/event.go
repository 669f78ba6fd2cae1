// Package event declares what the remediation agent reports as typed
// events, and the Sink they go to. The journal (systemd.JournalSink) and
// the metrics (metrics.Metrics.Sink) are sinks; the agent emits each
// event once, to a Fanout of them, instead of logging and counting in
// pairs. A sink is bound to one network namespace: events carry no
// namespace of their own.
package event

import (
	"fmt"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// Event is one thing the agent did or saw. Each sink acts on the kinds it
// knows and ignores the others.
type Event interface {
	// event keeps the set of events to this package's types.
	event()
}

// Sink receives the agent's events.
type Sink interface {
	Emit(Event)
}

// SinkFunc lets a function be a Sink.
type SinkFunc func(Event)

// Emit calls f(e).
func (f SinkFunc) Emit(e Event) { f(e) }

// Fanout is a Sink that passes each event to every one of its sinks, in
// order; nil sinks are skipped.
type Fanout []Sink

// Emit passes e to each sink.
func (s Fanout) Emit(e Event) {
	for _, sink := range s {
		if sink != nil {
			sink.Emit(e)
		}
	}
}

// Change is a sysctl change a rule asked for, as events tell it.
type Change struct {
	Rule, Key, From, To string
	// Reason is why the rule asked for it.
	Reason string
	// Platform, in a container's or pod's namespace, says how to keep
	// the change in its definition; empty elsewhere.
	Platform string
}

// Context is what the journal says about the circumstances of a change.
type Context struct {
	// Mode is the mode the agent acts in.
	Mode advisor.Mode
	// Worst is the destination nearest its port limit; nil when unknown.
	Worst *advisor.DestinationUse
	// Recording is the flight recording this tick wrote, if any.
	Recording string
}

// ChangeApplied: a change was written and read back.
type ChangeApplied struct {
	Change
	Context
}

// ChangeFailed: a change was not made. When AfterWrite is set the kernel
// took it but it was not fully recorded: it counts as applied, not
// failed.
type ChangeFailed struct {
	Change
	Context
	// Err is why; Errno names the errno of a failed write, if known.
	Err        error
	Errno      string
	AfterWrite bool
}

// ChangeRefused: a guardrail refused a planned change at this tick.
// Repeated is set when the same refusal was emitted at the previous tick:
// it still counts, but is no news.
type ChangeRefused struct {
	Change
	// Guardrail names the guardrail; Bound is what it enforces and Source
	// where it is declared; Reason (which hides Change.Reason) is why it
	// refused.
	Guardrail, Bound, Source, Reason string
	Severity                         advisor.Severity
	Recording                        string
	Repeated                         bool
}

// RuleFired: a rule recommended something at this tick, with a severity.
type RuleFired struct {
	Rule     string
	Severity advisor.Severity
}

func (ChangeApplied) event() {}
func (ChangeFailed) event()  {}
func (ChangeRefused) event() {}
func (RuleFired) event()     {}

// PolicyLoaded: a policy set was compiled and is now in force.
type PolicyLoaded struct {
	// Description sums the set up; Files are its files, Checksum
	// identifies it.
	Description string
	Files       []string
	Checksum    string
	// Mode and Interval are how the agent runs under it.
	Mode     advisor.Mode
	Interval time.Duration
}

// PolicyRejected: a policy set did not compile; the previous set stays in
// force.
type PolicyRejected struct {
	Problems []PolicyProblem
}

// PolicyProblem is one error in a policy file.
type PolicyProblem struct {
	Summary, Detail string
	// File, Line and Column are where it is; File is "" when it has no
	// position.
	File         string
	Line, Column int
}

// TickDone: a tick in one namespace ended, having observed Snapshot and
// judged Findings in Took; Err is set when it could not observe (Snapshot
// and Findings are then empty).
type TickDone struct {
	Snapshot advisor.Snapshot
	Findings advisor.Findings
	Took     time.Duration
	Err      error
	// NewRules, when set, are what the rules of a set newly in force here
	// may count.
	NewRules []RuleSeries
	// StateStoreOK, BackingOff (keys whose writes back off) and Degraded
	// (observation fallbacks in use) are the agent's health after it.
	StateStoreOK         bool
	BackingOff, Degraded []string
}

// RuleSeries is what one rule of the policy set in force may count: its
// name, the severities it may give, the sysctls it may change and, per
// key, the guardrails the set declares for it.
type RuleSeries struct {
	Rule       string
	Severities []string
	Keys       []string
	Guardrails map[string][]string
}

func (PolicyLoaded) event()   {}
func (PolicyRejected) event() {}
func (TickDone) event()       {}

// Reloaded: a reload finished. Err is set when the new policy did not
// load and Policy, the set's description, is the one that stays in force.
type Reloaded struct {
	Policy string
	Mode   advisor.Mode
	Err    error
}

// ConnectFailuresStarted: connect() calls in a namespace began failing for
// lack of a local port: Failures of them over Window, Worst (zero when
// unknown) the flow that failed most.
type ConnectFailuresStarted struct {
	Failures uint64
	Window   time.Duration
	Worst    advisor.ConnFlow
}

// ConnectFailuresStopped: no connect() call failed for lack of a port over
// Window.
type ConnectFailuresStopped struct {
	Window time.Duration
}

// RolledBack: the operator restored a key to its original value.
type RolledBack struct {
	Key, From, To string
}

// RollbackSeen: the agent found in its state a rollback another process
// made; in enforce Mode a rule that still asks changes the key again once
// Cooldown has passed.
type RollbackSeen struct {
	RolledBack
	Mode     advisor.Mode
	Cooldown time.Duration
}

// KeyReleased: someone else changed a key the agent managed, from the
// Expected value it wrote to Found; the agent keeps theirs.
type KeyReleased struct {
	Key, Expected, Found string
}

// StateMovedAside: the namespace a state file records is gone (Reason
// says how; Netns names it); the file was moved to Aside and a new state
// started. Keys are what it managed.
type StateMovedAside struct {
	Reason, Netns, Aside string
	Keys                 []string
}

func (Reloaded) event()               {}
func (ConnectFailuresStarted) event() {}
func (ConnectFailuresStopped) event() {}
func (RolledBack) event()             {}
func (RollbackSeen) event()           {}
func (KeyReleased) event()            {}
func (StateMovedAside) event()        {}

// ChangeRecommended: where the agent does not enforce, a rule began
// asking for a change, or its severity changed. While it keeps asking
// with the same severity there is no new event; the value it proposes
// follows the numbers.
type ChangeRecommended struct {
	Change
	Context
	Severity advisor.Severity
}

// AdviceGiven: a rule began giving advice, or its severity changed.
type AdviceGiven struct {
	Rule, Message string
	Severity      advisor.Severity
	Recording     string
}

func (ChangeRecommended) event() {}
func (AdviceGiven) event()       {}

// ObservationDegraded: a source failed and the tick used a fallback
// (Fallback says which), from this tick on.
type ObservationDegraded struct {
	Fallback string
}

// ObservationRecovered: every source works again; Was lists the
// fallbacks that were in use.
type ObservationRecovered struct {
	Was []string
}

// StoreFailing: the state store of a namespace (File) began failing with
// Err; nothing is applied there until it works again. Retry is when it is
// tried again, then less and less often up to every MaxRetry; What, if
// set, says what the failure kept from being done.
type StoreFailing struct {
	Err             error
	File            string
	Retry, MaxRetry time.Duration
	What            string
}

// StoreRecovered: the state store (File) works again after failing with
// Was.
type StoreRecovered struct {
	Was  error
	File string
}

func (ObservationDegraded) event()  {}
func (ObservationRecovered) event() {}
func (StoreFailing) event()         {}
func (StoreRecovered) event()       {}

// RuleSkipped: a rule failed to evaluate at this tick and was skipped;
// the others still ran. The problem is said once while it lasts.
type RuleSkipped struct {
	Problem   PolicyProblem
	Recording string
}

// CloseWaitLeak: a process holds CLOSE_WAIT sockets that stay (Stuck of
// them): an application bug no sysctl fixes. Top is the process holding
// most; Total, Growth and Pattern describe all of the namespace's.
type CloseWaitLeak struct {
	Top                  advisor.OwnerCount
	Total, Growth, Stuck int
	Pattern              advisor.RemotePattern
	Recording            string
}

// AgentStarted: the agent finished its first tick and is ready.
type AgentStarted struct {
	Version  string
	Mode     advisor.Mode
	Interval time.Duration
}

// AgentStopping: the agent is shutting down.
type AgentStopping struct{}

// MetricsFailing: the metrics could not be published (Err), from now
// until MetricsRecovered.
type MetricsFailing struct {
	Err error
}

// MetricsRecovered: the metrics are published again.
type MetricsRecovered struct{}

func (RuleSkipped) event()      {}
func (CloseWaitLeak) event()    {}
func (AgentStarted) event()     {}
func (AgentStopping) event()    {}
func (MetricsFailing) event()   {}
func (MetricsRecovered) event() {}

// PolicyWarning: the policy set compiled with a warning (Summary, and
// Detail with the numbers); it is in force.
type PolicyWarning struct {
	Summary, Detail string
}

// PersistNotWritten: the policy asks for a sysctl.d drop-in the agent does
// not write here; Why says which and why.
type PersistNotWritten struct {
	Why string
}

// EnforceRefused: a reloaded policy set puts the agent in enforce Mode
// where this process may not write the sysctls its rules change (Err says
// why); the previous set stays in force. As an error it is what the agent
// says when the set it starts with does this.
type EnforceRefused struct {
	Mode advisor.Mode
	Err  error
}

// Error says what enforce mode needs and how to run the agent instead.
func (e EnforceRefused) Error() string {
	return fmt.Sprintf("enforce mode needs to write the sysctls its rules set, and this process may not: %v; "+
		"run tcp-advisor as root (or with CAP_NET_ADMIN over this network namespace) where /proc/sys is writable, or in dry-run mode", e.Err)
}

// Unwrap returns why the sysctls may not be written.
func (e EnforceRefused) Unwrap() error { return e.Err }

// ManagedKeysUnchecked: the agent could not check whether someone else
// changed the keys it manages (Err); it checks again at the next tick.
type ManagedKeysUnchecked struct {
	Err error
}

func (PolicyWarning) event()        {}
func (PersistNotWritten) event()    {}
func (EnforceRefused) event()       {}
func (ManagedKeysUnchecked) event() {}

// NamespaceNotWatched: a network namespace discovery found (Netns names
// it) cannot be watched (Err); discovery tries it again at the next tick.
type NamespaceNotWatched struct {
	Netns string
	Err   error
}

// DiscoveryFailed: the host's network namespaces could not be discovered
// (Err); the agent goes on with those it watches.
type DiscoveryFailed struct {
	Err error
}

func (NamespaceNotWatched) event() {}
func (DiscoveryFailed) event()     {}

// FlightRecorderFailing: the flight recorder cannot keep frames in its
// directory Dir (Err), from now until FlightRecorderRecovered; the tick
// goes on.
type FlightRecorderFailing struct {
	Dir string
	Err error
}

// FlightRecorderRecovered: the flight recorder keeps frames in Dir again.
type FlightRecorderRecovered struct {
	Dir string
}

// RecordingFailed: the flight recorder in Dir could not write the
// recording of For (a critical finding, a change applied) (Err).
type RecordingFailed struct {
	For, Dir string
	Err      error
}

func (FlightRecorderFailing) event()   {}
func (FlightRecorderRecovered) event() {}
func (RecordingFailed) event()         {}

// StateSalvaged: a corrupt state file was moved aside to Aside and a new
// state written with what could be salvaged from it. Problem is the
// store's account of the file (what is corrupt, what could be read); Err
// what was wrong in it.
type StateSalvaged struct {
	Problem string
	Err     error
	Aside   string
}

// StateCarriedOver: the state in Dir was recorded on an earlier boot of
// the namespace, and the sysctl.d drop-in DropIn re-applied its values at
// this boot: the agent goes on managing them, in the state file File.
type StateCarriedOver struct {
	Dir, DropIn, File string
}

func (StateSalvaged) event()    {}
func (StateCarriedOver) event() {}
