package orchestrate

import (
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/advisor/record"
	"github.com/tcp-advisor/tcp-advisor/advisor/report"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate"
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

// Replay judges a recorded series at offset from its start (negative: its
// last frame) as it was judged live: the same window, analysis and
// policies. It needs no privileges and reads nothing of this host.
func Replay(s record.Series, set *policies.Set, offset time.Duration) (Judgement, error) {
	last, f, err := s.Replay(offset)
	if err != nil {
		return Judgement{}, err
	}
	j := Judgement{Last: last, Findings: f}
	j.Recs, j.Diags = set.Evaluate(last, f)
	return j, nil
}

// Diagnosis explains the judgement.
func (j Judgement) Diagnosis() report.Diagnosis {
	return report.NewDiagnosis(j.Last, j.Findings, j.Recs)
}

// Plan builds the plan of the judgement against the state (which may be
// nil).
func (j Judgement) Plan(set *policies.Set, st *remediate.State) remediate.Plan {
	return remediate.Planner{Set: set, State: st, Now: j.Last.Time}.Build(j.Last, j.Recs)
}
