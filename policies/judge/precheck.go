package judge

import (
	"fmt"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// RulesAsk returns the observe.Asker of the policy set in force (set is
// called at each question, so a reload counts at once): a rule asks for a
// namespace's per-socket detail when it fires on the most its counters
// allow (advisor.CheapFigures.Ceiling) and not on the counters alone. A
// namespace that holds no socket gives a dump nothing to show.
func RulesAsk(set func() *policies.Set) observe.Asker {
	return func(snap advisor.Snapshot) string {
		cheap := advisor.CheapOf(snap)
		if cheap.Holding() == 0 {
			return ""
		}
		s := set()
		f := advisor.Analyze([]advisor.Snapshot{snap})
		plain, plainDiags := s.Evaluate(snap, f)
		fired := map[string]bool{}
		for _, r := range plain {
			fired[r.Rule] = true
		}
		ceiling, diags := s.Evaluate(snap, cheap.Ceiling(f))
		for _, r := range ceiling {
			if !fired[r.Rule] {
				return fmt.Sprintf("rule %s asks for per-socket detail (%s)", r.Rule, policies.RangeString(r.Source))
			}
		}
		if diags.HasErrors() && !plainDiags.HasErrors() {
			return "a rule failed to evaluate without per-socket detail"
		}
		return ""
	}
}
