package metrics

import (
	"github.com/tcp-advisor/tcp-advisor/advisor/event"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
)

// SinkIn is Sink labelled with namespace ns: nil for the agent's own
// namespace when it watches no other.
func (m *Metrics) SinkIn(ns *netns.Namespace) event.Sink {
	if ns == nil {
		return m.Sink("", "")
	}
	container := ""
	if ns.Container != nil {
		container = ns.Container.String()
	}
	return m.Sink(ns.String(), container)
}

// Sink is the metrics' event.Sink for one network namespace, labelled
// netns and container (both "" for the agent's own namespace when it
// watches no other): it records the ticks, counts the changes applied and
// failed, the refusals and the rules that fired, and follows the policy
// set in force. The other events are the journal's alone.
func (m *Metrics) Sink(netns, container string) event.Sink {
	return event.SinkFunc(func(e event.Event) {
		switch e := e.(type) {
		case event.TickDone:
			if e.NewRules != nil {
				m.Known(netns, e.NewRules)
			}
			m.ObserveTick(netns, container, e.Snapshot, e.Findings, e.Took, e.Err)
			m.Health(netns, container, e.StateStoreOK, e.BackingOff, e.Degraded)
		case event.PolicyLoaded:
			m.PolicyLoaded(e.Checksum, string(e.Mode), e.Interval, true)
		case event.PolicyRejected, event.EnforceRefused:
			// A set that did not compile, or that a reload refused for
			// enforce mode where the sysctls may not be written: the
			// previous set stays in force.
			m.PolicyLoaded("", "", 0, false)
		case event.ChangeApplied:
			m.Change(netns, e.Rule, e.Key, OutcomeApplied)
		case event.ChangeFailed:
			// A change the kernel took before its group failed was
			// counted with the applied ones.
			if !e.AfterWrite {
				m.Change(netns, e.Rule, e.Key, OutcomeFailed)
			}
		case event.ChangeRefused:
			m.Refusal(netns, e.Rule, e.Key, e.Guardrail)
		case event.RuleFired:
			m.Recommendation(netns, e.Rule, string(e.Severity))
		case event.ChangeRecommended, event.AdviceGiven, event.RuleSkipped, event.CloseWaitLeak,
			event.Reloaded, event.PolicyWarning, event.PersistNotWritten,
			event.ConnectFailuresStarted, event.ConnectFailuresStopped,
			event.RolledBack, event.RollbackSeen, event.KeyReleased,
			event.StateMovedAside, event.StateSalvaged, event.StateCarriedOver,
			event.StoreFailing, event.StoreRecovered, event.ManagedKeysUnchecked,
			event.ObservationDegraded, event.ObservationRecovered,
			event.NamespaceNotWatched, event.DiscoveryFailed,
			event.FlightRecorderFailing, event.FlightRecorderRecovered, event.RecordingFailed,
			event.AgentStarted, event.AgentStopping, event.MetricsFailing, event.MetricsRecovered:
			// The journal's alone: the rules fired, the ticks' figures
			// and health (TickDone) count what these are about.
		}
	})
}
