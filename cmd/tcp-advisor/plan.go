package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/remediate/orchestrate"
)

// pathList is a repeatable string flag.
type pathList []string

func (p *pathList) String() string     { return strings.Join(*p, ",") }
func (p *pathList) Set(v string) error { *p = append(*p, v); return nil }

// policyFlag registers the repeatable --policy flag.
func policyFlag(fs *flag.FlagSet) *pathList {
	var paths pathList
	fs.Var(&paths, "policy", "policy file or directory (repeatable; default: the embedded policies)")
	return &paths
}

// stateDirFlag registers --state-dir.
func stateDirFlag(fs *flag.FlagSet) *string {
	return fs.String("state-dir", defaultStateDir, "directory for originals and change history")
}

// loadPolicies loads --policy paths, or the embedded defaults, printing
// diagnostics as file:line:column.
func loadPolicies(paths []string, stderr io.Writer) (*policies.Set, error) {
	set, diags := policies.LoadOrDefault(paths...)
	if diags.HasErrors() {
		policies.FormatDiagnostics(stderr, diags)
		return nil, fmt.Errorf("policies did not load")
	}
	if len(diags) > 0 {
		policies.FormatDiagnostics(stderr, diags)
	}
	return set, nil
}

func runPlan(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plan", stderr)
	paths := policyFlag(fs)
	format := formatFlag(fs)
	detailed := fs.Bool("detailed-exitcode", false, "exit 0 when nothing would change, 2 when changes are proposed, 1 on error")
	stateDir := fs.String("state-dir", defaultStateDir, "state directory, read for cooldowns and managed keys (never written)")
	samples, interval := sampleFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	if err := checkSamples(*samples); err != nil {
		return err
	}
	set, err := loadPolicies(*paths, stderr)
	if err != nil {
		return err
	}
	// plan never writes: a state file it cannot read only loses it the
	// cooldowns and managed keys it would have taken into account.
	st, err := remediate.NewStore(*stateDir).Load()
	var ce *remediate.CorruptError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "tcp-advisor plan: %v; planning with what was salvaged\n", err)
		st = ce.Salvaged
	case err != nil:
		fmt.Fprintf(stderr, "tcp-advisor plan: %v; planning without the state\n", err)
		st = nil
	}
	plan, err := planOnce(set, st, *samples, *interval, stderr)
	var werr error
	if *format == "json" {
		werr = plan.WriteJSON(stdout)
	} else {
		werr = plan.WriteText(stdout)
	}
	if err != nil || werr != nil {
		return errors.Join(err, werr)
	}
	if *detailed && len(plan.Changes) > 0 {
		return exitError{code: 2}
	}
	return nil
}

// planOnce observes, evaluates and plans, printing policy diagnostics. A
// rule that fails to evaluate is left out of the plan, which comes back
// with an error saying so.
func planOnce(set *policies.Set, st *remediate.State, samples int, interval time.Duration, stderr io.Writer) (remediate.Plan, error) {
	plan, diags, err := orchestrate.PlanOnce(observe.New(procRoot, sysRoot), set, st, samples, interval)
	if len(diags) > 0 {
		policies.FormatDiagnostics(stderr, diags)
	}
	if err == nil && diags.HasErrors() {
		err = fmt.Errorf("%d rule(s) failed to evaluate and were left out of the plan", len(diags.Errs()))
	}
	return plan, err
}
