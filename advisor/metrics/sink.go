package metrics

import "github.com/tcp-advisor/tcp-advisor/advisor/event"

// Sink is the metrics' event.Sink for one network namespace (its netns
// label; "" for the agent's own when it watches no other): it counts the
// changes applied and failed, the refusals and the rules that fired.
func (m *Metrics) Sink(netns string) event.Sink {
	return event.SinkFunc(func(e event.Event) {
		switch e := e.(type) {
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
