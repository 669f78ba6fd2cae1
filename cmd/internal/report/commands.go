package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/remediate/policytest"
)

// WriteApplied writes each change `apply` made.
func WriteApplied(w io.Writer, applied []remediate.Applied) {
	for _, c := range applied {
		fmt.Fprintf(w, "applied %s = %q (was %q)\n", c.Key, c.To, c.From)
	}
}

// WriteQuestion asks question, to be answered y or n on the terminal.
func WriteQuestion(w io.Writer, question string) {
	fmt.Fprintf(w, "\n%s [y/N] ", question)
}

// Progress returns a function that shows how far sampling is, on one line
// of w rewritten in place, ending it after the last sample.
func Progress(w io.Writer, interval time.Duration) func(done, total int) {
	return func(done, total int) {
		end := ""
		if done == total {
			end = "\n"
		}
		fmt.Fprintf(w, "\rsampling %d/%d, %s apart...%s", done, total, interval, end)
	}
}

// WritePolicySet writes that a set compiled, what it holds, and where its
// rules, disabled rules and guardrails come from (file and line).
func WritePolicySet(w io.Writer, set *policies.Set) {
	fmt.Fprintf(w, "ok: %s\n", set.Describe())
	fmt.Fprintln(w, "rules:")
	for _, r := range set.Rules {
		line := fmt.Sprintf("  %-26s %s", r.Name, policies.RangeString(r.Source))
		if r.Replaces != nil {
			line += " (replaces " + policies.RangeString(*r.Replaces) + ")"
		}
		fmt.Fprintln(w, line)
	}
	if len(set.Disabled) > 0 {
		fmt.Fprintln(w, "disabled:")
		for _, name := range slices.Sorted(maps.Keys(set.Disabled)) {
			fmt.Fprintf(w, "  %-26s %s\n", name, policies.RangeString(set.Disabled[name]))
		}
	}
	fmt.Fprintln(w, "guardrails:")
	for _, key := range slices.Sorted(maps.Keys(set.Guardrails)) {
		var srcs []string
		for _, r := range set.Guardrails[key].Sources {
			srcs = append(srcs, policies.RangeString(r))
		}
		fmt.Fprintf(w, "  %-30s %s\n", key, strings.Join(srcs, ", "))
	}
}

// WritePolicyFileFailed writes that a policy test file failed as a whole:
// it does not load (err nil), or its policies do not (err).
func WritePolicyFileFailed(w io.Writer, file string, err error) {
	if err == nil {
		fmt.Fprintf(w, "--- FAIL: %s: the test file does not load\n", file)
		return
	}
	fmt.Fprintf(w, "--- FAIL: %s: %v\n", file, err)
}

// PolicyTestOutcome is what became of one policy test.
type PolicyTestOutcome int

// The outcomes a policy test line tells.
const (
	PolicyTestPassed PolicyTestOutcome = iota
	PolicyTestUpdated
	PolicyTestFailed
)

// WritePolicyTest writes one policy test's line: passed, updated (with
// what changed) or failed (with the error, or how the plan differs).
func WritePolicyTest(w io.Writer, t *policytest.Test, r policytest.Result, outcome PolicyTestOutcome) {
	switch {
	case outcome == PolicyTestPassed:
		fmt.Fprintf(w, "--- PASS: %s: test %q\n", t.Where(), t.Name)
	case outcome == PolicyTestUpdated:
		fmt.Fprintf(w, "--- UPDATED: %s: test %q\n%s", t.Where(), t.Name, indent(policytest.Diff(r.Expected, r.Actual)))
	case r.Err != nil:
		fmt.Fprintf(w, "--- FAIL: %s: test %q: %v\n", t.Where(), t.Name, r.Err)
	default:
		fmt.Fprintf(w, "--- FAIL: %s: test %q: the plan differs (- expected, + actual)\n%s", t.Where(), t.Name, indent(policytest.Diff(r.Expected, r.Actual)))
	}
}

// WritePolicyTestSummary writes the line a run of policy tests ends with,
// as go test ends with ok or FAIL.
func WritePolicyTestSummary(w io.Writer, passed, failed int) {
	if failed > 0 {
		fmt.Fprintf(w, "FAIL: %d of %d policy tests failed\n", failed, passed+failed)
		return
	}
	fmt.Fprintf(w, "ok: %d policy tests passed\n", passed)
}

// indent indents each line of s by four spaces.
func indent(s string) string {
	if s == "" {
		return ""
	}
	lines := strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n")
	return "    " + strings.Join(lines, "    ") + "\n"
}
