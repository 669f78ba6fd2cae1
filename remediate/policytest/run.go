package policytest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/advisor/record"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// Result is one test's outcome.
type Result struct {
	Test *Test
	// Err is why the test could not run: a recording that does not read,
	// a moment outside it, a rule that failed to evaluate.
	Err error
	// Expected and Actual are the outcome as lines, sorted; the test
	// passes when they are equal.
	Expected, Actual []string
	// Plan is the plan the policies made.
	Plan remediate.Plan
}

// Passed reports whether the test passed.
func (r Result) Passed() bool { return r.Err == nil && slices.Equal(r.Expected, r.Actual) }

// Run replays the test's recording at its moment through set, as the agent
// would have judged it on a host where tcp-advisor had changed nothing, and
// compares the plan with the expectation. Recordings are read through
// cache, keyed by path.
func Run(t *Test, set *policies.Set, cache map[string]*record.Recording) Result {
	res := Result{Test: t}
	rec := cache[t.Recording]
	if rec == nil {
		var err error
		if rec, err = record.ReadFile(t.Recording); err != nil {
			res.Err = err
			return res
		}
		cache[t.Recording] = rec
	}
	s, err := t.series(rec)
	if err != nil {
		res.Err = fmt.Errorf("%s: %w", t.Recording, err)
		return res
	}
	last, findings, err := s.Replay(t.At)
	if err != nil {
		res.Err = fmt.Errorf("%s: %w", t.Recording, err)
		return res
	}
	recs, diags := set.Evaluate(last, findings)
	if diags.HasErrors() {
		res.Err = fmt.Errorf("%d rule(s) failed to evaluate: %s", len(diags.Errs()), diags.Errs()[0])
		return res
	}
	res.Plan = remediate.Planner{Set: set, Now: last.Time}.Build(last, recs)
	res.Expected, res.Actual = t.Expect.lines(), t.Expect.actual(res.Plan)
	return res
}

// lines renders the expectation, one line per item, sorted.
func (e Expectation) lines() []string {
	var out []string
	if e.Level != nil {
		out = append(out, fmt.Sprintf("level = %q", *e.Level))
	}
	for _, kind := range []struct {
		name string
		list []Expected
	}{{"change", e.Changes}, {"refused", e.Refused}, {"advice", e.Advice}} {
		for _, x := range kind.list {
			out = append(out, line(kind.name, x.Label, x.Attrs, x.Contains))
		}
	}
	slices.Sort(out)
	return out
}

// line renders one item: `change "KEY" { rule = "R", to = "V" }`.
func line(kind, label string, attrs map[string]string, contains []string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		parts = append(parts, fmt.Sprintf("%s = %q", k, attrs[k]))
	}
	for _, c := range contains {
		parts = append(parts, fmt.Sprintf("contains %q", c))
	}
	s := fmt.Sprintf("%s %q", kind, label)
	if len(parts) > 0 {
		s += " { " + strings.Join(parts, ", ") + " }"
	}
	return s
}

// actual renders the plan as the expectation would describe it: each item
// with the attributes the expected item of the same label compares, or
// with all of them when none is expected; a message or reason that lacks
// a text the expectation looks for is shown whole.
func (e Expectation) actual(p remediate.Plan) []string {
	var out []string
	if e.Level != nil {
		out = append(out, fmt.Sprintf("level = %q", p.Level))
	}
	for _, c := range p.Changes {
		out = append(out, render("change", c.Key, e.Changes, map[string]string{"rule": c.Rule, "from": c.From, "to": c.To, "severity": string(c.Severity)}, c.Reason))
	}
	for _, r := range p.Refused {
		out = append(out, render("refused", r.Key, e.Refused, map[string]string{"rule": r.Rule, "to": r.To, "guardrail": r.Guardrail, "severity": string(r.Severity)}, r.Reason))
	}
	for _, a := range p.Advice {
		out = append(out, render("advice", a.Rule, e.Advice, map[string]string{"severity": string(a.Severity)}, a.Message))
	}
	slices.Sort(out)
	return out
}

// defaults are the attributes an unexpected item is shown with.
var defaults = map[string][]string{"change": {"rule", "to"}, "refused": {"rule", "guardrail"}, "advice": {"severity"}}

func render(kind, label string, expected []Expected, have map[string]string, message string) string {
	var x *Expected
	for i := range expected {
		if expected[i].Label == label {
			x = &expected[i]
			break
		}
	}
	attrs := map[string]string{}
	var contains []string
	if x == nil {
		for _, k := range defaults[kind] {
			attrs[k] = have[k]
		}
		return line(kind, label, attrs, nil)
	}
	for k := range x.Attrs {
		attrs[k] = have[k]
	}
	for _, c := range x.Contains {
		if strings.Contains(message, c) {
			contains = append(contains, c)
		} else {
			attrs["message"] = message
		}
	}
	return line(kind, label, attrs, contains)
}

// Diff shows the expected lines the plan lacks (-) and the actual lines
// the test did not expect (+).
func Diff(expected, actual []string) string {
	var b strings.Builder
	count := map[string]int{}
	for _, l := range actual {
		count[l]++
	}
	for _, l := range expected {
		if count[l] > 0 {
			count[l]--
			continue
		}
		fmt.Fprintf(&b, "- %s\n", l)
	}
	count = map[string]int{}
	for _, l := range expected {
		count[l]++
	}
	for _, l := range actual {
		if count[l] > 0 {
			count[l]--
			continue
		}
		fmt.Fprintf(&b, "+ %s\n", l)
	}
	return b.String()
}

// Where is the test's file:line.
func (t *Test) Where() string { return t.File + ":" + strconv.Itoa(t.Range.Start.Line) }
