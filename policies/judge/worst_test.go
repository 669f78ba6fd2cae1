package judge

import (
	"errors"
	"slices"
	"testing"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

// TestWorstFirst: several namespaces come worst level first, those that
// could not be judged last, discovery order kept within a level.
func TestWorstFirst(t *testing.T) {
	judged := func(inode uint64, severities ...advisor.Severity) TargetJudgement {
		j := TargetJudgement{Target: Target{NS: &netns.Namespace{Inode: inode}}}
		for _, s := range severities {
			j.Recs = append(j.Recs, policies.Recommendation{Rule: "r-" + string(s), Topic: "t-" + string(s), Severity: s, Message: string(s)})
		}
		return j
	}
	failed := judged(5)
	failed.Err = errors.New("gone")
	js := []TargetJudgement{
		judged(1), failed, judged(2, advisor.SeverityWarning), judged(3), judged(4, advisor.SeverityInfo, advisor.SeverityCritical), judged(6, advisor.SeverityWarning),
	}
	WorstFirst(js)
	var got []uint64
	for _, j := range js {
		got = append(got, j.NS.Inode)
	}
	if want := []uint64{4, 2, 6, 1, 3, 5}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
