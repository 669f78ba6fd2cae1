// Package judge is tcp-advisor's read-only judgement: it observes a window
// of samples of one or more network namespaces, analyzes it and evaluates
// the policies on it. It changes nothing: `diagnose` stops here, `plan`
// and `apply` hand its judgement to package remediate.
package judge

import (
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// Judgement is one observation window judged by the policies: what
// `diagnose` explains and what `plan` turns into changes.
type Judgement struct {
	Last     advisor.Snapshot
	Findings advisor.Findings
	Recs     []policies.Recommendation
	// Diags are the rules that failed to evaluate (skipped) and warnings,
	// with their positions.
	Diags hcl.Diagnostics
}

// Judge observes a full window of samples, analyzes it and evaluates the
// policies on it. A rule that fails to evaluate is left out; the
// diagnostics come back as the policies gave them, so their positions
// survive.
// progress, when not nil, is told of each sample taken.
func Judge(obs *observe.Observer, set *policies.Set, samples int, interval time.Duration, progress func(done, total int)) (Judgement, error) {
	window, err := obs.Window(samples, interval, observe.Full, progress)
	if err != nil {
		return Judgement{}, err
	}
	j := Judgement{Last: window[len(window)-1], Findings: advisor.Analyze(window)}
	j.Recs, j.Diags = set.Evaluate(j.Last, j.Findings)
	return j, nil
}
