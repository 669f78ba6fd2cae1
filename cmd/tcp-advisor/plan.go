package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

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

// loadPolicies loads the embedded defaults with the --policy paths layered
// on top, printing diagnostics as file:line:column.
func loadPolicies(paths []string, stderr io.Writer) (*policies.Set, error) {
	set, diags := policies.Load(paths...)
	if len(diags) > 0 {
		policies.FormatDiagnostics(stderr, diags)
	}
	if diags.HasErrors() {
		return nil, fmt.Errorf("policies did not load")
	}
	return set, nil
}

// ruleFailures prints the diagnostics of the evaluation and returns an
// error when a rule failed to evaluate: its judgement is missing.
func ruleFailures(j orchestrate.Judgement, stderr io.Writer) error {
	if len(j.Diags) > 0 {
		policies.FormatDiagnostics(stderr, j.Diags)
	}
	if j.Diags.HasErrors() {
		return fmt.Errorf("%d rule(s) failed to evaluate and were left out", len(j.Diags.Errs()))
	}
	return nil
}

func runPlan(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plan", stderr)
	policyPaths := policyFlag(fs)
	format := formatFlag(fs)
	detailed := fs.Bool("detailed-exitcode", false, "exit 0 when nothing is to be done, 2 when changes are proposed or a critical recommendation needs a person, 1 on error")
	stateDir := fs.String("state-dir", defaultStateDir, "state directory, read for cooldowns and managed keys (never written)")
	samples, interval := sampleFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	if err := checkSamples(*samples); err != nil {
		return err
	}
	set, err := loadPolicies(*policyPaths, stderr)
	if err != nil {
		return err
	}
	st, err := remediate.NewStore(*stateDir).Load()
	if err != nil && !os.IsPermission(err) {
		return err
	}
	j, err := orchestrate.Judge(observe.New(paths.Proc, paths.Sys), set, *samples, *interval)
	if err != nil {
		return err
	}
	evalErr := ruleFailures(j, stderr)
	plan := j.Plan(set, st)
	var werr error
	if *format == "json" {
		werr = plan.WriteJSON(stdout)
	} else {
		werr = plan.WriteText(stdout, textOptions(stdout))
	}
	if evalErr != nil || werr != nil {
		return errors.Join(evalErr, werr)
	}
	if *detailed && plan.Actionable() {
		return exitError{code: 2}
	}
	return nil
}
