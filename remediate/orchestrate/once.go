package orchestrate

import (
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// PlanOnce is what `plan` and `apply` do: observe a full window of samples,
// analyze it, evaluate the policies and build the plan against the state
// (which may be nil). A rule that fails to evaluate is left out of the plan;
// the diagnostics come back as the policies gave them, so their positions
// survive.
func PlanOnce(obs *observe.Observer, set *policies.Set, st *remediate.State, samples int, interval time.Duration) (remediate.Plan, hcl.Diagnostics, error) {
	window, err := obs.Window(samples, interval, observe.Full)
	if err != nil {
		return remediate.Plan{}, nil, err
	}
	last := window[len(window)-1]
	recs, diags := set.Evaluate(last, advisor.Analyze(window))
	return remediate.Planner{Set: set, State: st, Now: last.Time}.Build(last, recs), diags, nil
}
