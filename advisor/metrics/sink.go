package metrics

import "github.com/tcp-advisor/tcp-advisor/advisor/event"

// Sink is the metrics' event.Sink for one network namespace, labelled
// netns and container (both "" for the agent's own namespace when it
// watches no other): it records the ticks, counts the changes applied and
// failed, the refusals and the rules that fired, and follows the policy
// set in force.
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
		case event.PolicyRejected:
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
		}
	})
}
