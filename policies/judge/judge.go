// Package judge is tcp-advisor's read-only judgement: it observes a window
// of samples of one or more network namespaces, analyzes it and evaluates
// the policies on it. It changes nothing: `diagnose` stops here, `plan`
// and `apply` hand its judgement to package remediate.
package judge

import (
	"errors"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/advisor/record"
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

// Level is the judgement's worst severity: the gravest recommendation's,
// ok when no rule fired. It is the level its diagnosis and plan report.
func (j Judgement) Level() advisor.Severity {
	level := advisor.SeverityOK
	for _, r := range j.Recs {
		if r.Severity.Rank() > level.Rank() {
			level = r.Severity
		}
	}
	return level
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
	j := Judgement{Last: window[len(window)-1], Findings: OneShotHistory(window).Analyze()}
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

// ReplayAll judges every series of the recording at offset, one target
// each, named as it was recorded.
func ReplayAll(rec *record.Recording, set *policies.Set, offset time.Duration) ([]TargetJudgement, error) {
	if len(rec.Series) == 0 {
		return nil, errors.New("the recording holds no namespace")
	}
	var out []TargetJudgement
	for _, s := range rec.Series {
		j, err := Replay(s, set, offset)
		if err != nil {
			return nil, err
		}
		ns := &netns.Namespace{Inode: s.Netns.Inode, Name: s.Netns.Name, Host: s.Host}
		out = append(out, TargetJudgement{Target: Target{NS: ns}, Judgement: j})
	}
	return out, nil
}

// RecordingOf is the recording, made by source on host, of the windows the
// judgements read; here names the namespace this process runs in. A
// target without a judgement is left out.
func RecordingOf(js []TargetJudgement, here advisor.Netns, source, host string, now time.Time) *record.Recording {
	rec := record.New(source, now)
	rec.Host = host
	for _, j := range js {
		if j.Err != nil {
			continue
		}
		s := j.Series()
		if j.NS == nil {
			s.Netns = here
		}
		rec.Series = append(rec.Series, s)
	}
	return rec
}
