package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/cmd/internal/report"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/policies/judge"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/remediate/agent"
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
func ruleFailures(j judge.Judgement, stderr io.Writer) error {
	if len(j.Diags) > 0 {
		policies.FormatDiagnostics(stderr, j.Diags)
	}
	if j.Diags.HasErrors() {
		return fmt.Errorf("%d rule(s) failed to evaluate and were left out", len(j.Diags.Errs()))
	}
	return nil
}

// planState reads the state of j's namespace, for its cooldowns and
// managed keys. plan never writes: a state file it cannot read only loses
// it what it would have taken into account. A replay plans as on a host
// where tcp-advisor has changed nothing.
func planState(rp *replayOptions, j judge.TargetJudgement, stateDir string) (*remediate.State, error) {
	if rp.file != "" {
		return nil, nil
	}
	here, err := netns.Current(paths.Proc, paths.Netns)
	if err != nil {
		return nil, err
	}
	return remediate.NewStore(agent.TargetStateDir(j.Target, stateDir, here)).Load()
}

func runPlan(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plan")
	policyPaths := policyFlag(fs)
	format, formatOK := formatFlag(fs)
	detailed := fs.Bool("detailed-exitcode", false, "exit 0 when nothing is to be done, 2 when changes are proposed or a critical recommendation needs a person, 1 on error")
	stateDir := fs.String("state-dir", defaultStateDir, "state directory, read for cooldowns and managed keys (never written)")
	samples, interval, samplesOK := sampleFlags(fs, 2)
	sel, selOK := namespaceFlags(fs)
	rp, rpOK := replayFlags(fs)
	if err := parseFlags(fs, args, formatOK, samplesOK, selOK, rpOK, replayAlone(fs, rp)); err != nil {
		return err
	}
	defer kernelEvents()()
	set, err := loadPolicies(*policyPaths, stderr)
	if err != nil {
		return err
	}
	js, many, err := judgements(rp, "plan", *sel, set, *samples, *interval, stderr)
	if err != nil {
		return err
	}
	var sections []report.Section
	var errs []error
	actionable := false
	for _, j := range js {
		if j.Err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: %w", j.NS, j.Err))
			sections = append(sections, report.Section{Netns: j.NS, Error: j.Err.Error()})
			continue
		}
		st, err := planState(rp, j, *stateDir)
		var ce *remediate.CorruptError
		switch {
		case errors.As(err, &ce):
			fmt.Fprintf(stderr, "tcp-advisor plan: %v; planning with what was salvaged\n", err)
			st = ce.Salvaged
		case err != nil:
			fmt.Fprintf(stderr, "tcp-advisor plan: %v; planning without the state\n", err)
			st = nil
		}
		errs = append(errs, ruleFailures(j.Judgement, stderr))
		plan := agent.Plan(j.Judgement, set, st)
		if j.NS != nil {
			plan = plan.WithPlatform(j.NS.Container)
		}
		actionable = actionable || plan.Actionable()
		if !many {
			if *format == "json" {
				errs = append(errs, report.WritePlanJSON(stdout, plan))
			} else {
				errs = append(errs, report.WritePlanText(stdout, plan, textOptions(stdout)))
			}
			continue
		}
		sec := report.Section{Netns: j.NS, Plan: plan, Precheck: report.PrecheckOf(j.Judgement)}
		sections = append(sections, sec)
		if *format == "text" && (len(plan.Changes)+len(plan.Refused)+len(plan.Advice) > 0) {
			errs = append(errs, report.WriteSection(stdout, j.NS, sec.Precheck, func(w io.Writer) error {
				return report.WritePlanText(w, plan, textOptions(stdout))
			}))
		}
	}
	if many && *format == "json" {
		errs = append(errs, report.WriteSectionsJSON(stdout, sections))
	}
	if sel.Many() && *format == "text" {
		fmt.Fprintln(stdout, report.DumpedLine(sections))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if *detailed && actionable {
		return exitError{code: 2}
	}
	return nil
}
