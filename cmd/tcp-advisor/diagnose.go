package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/cmd/internal/report"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/policies/judge"
)

// unknownStatus is a monitoring plugin's exit status for a check that could
// not run.
const unknownStatus = 3

func runDiagnose(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("diagnose")
	policyPaths := policyFlag(fs)
	samples, interval, samplesOK := sampleFlags(fs, 1)
	format, formatOK := formatFlag(fs)
	check := fs.Bool("check", false, "behave as a monitoring plugin: print one summary line with performance data and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for a usage error)")
	sel, selOK := namespaceFlags(fs)
	rp, rpOK := replayFlags(fs)
	err := parseFlags(fs, args, formatOK, samplesOK, selOK, rpOK, replayAlone(fs, rp))
	var ue usageError
	if errors.As(err, &ue) && checkAsked(fs, args, check) {
		// A monitoring plugin called wrongly has not checked anything: its
		// status is UNKNOWN, never CRITICAL, which exit status 2 would say.
		report.WriteCheckUnknown(stdout, fmt.Errorf("usage: %w", ue.err))
		ue.code = unknownStatus
		return ue
	}
	if err != nil {
		return err
	}
	defer kernelEvents()()
	judgeAll := func(set *policies.Set) ([]judge.TargetJudgement, bool, error) {
		return judgements(rp, "diagnose", *sel, set, *samples, *interval, stderr)
	}
	if *check {
		return diagnoseCheck(*policyPaths, judgeAll, stdout, stderr)
	}
	set, err := loadPolicies(*policyPaths, stderr)
	if err != nil {
		return err
	}
	js, many, err := judgeAll(set)
	if err != nil {
		return err
	}
	if !many {
		j := js[0]
		if err := ruleFailures(j.Judgement, stderr); err != nil {
			return err
		}
		d := report.NewDiagnosis(j.Last, j.Findings, j.Recs)
		if *format == "json" {
			return d.WriteJSON(stdout)
		}
		return d.WriteText(stdout, textOptions(stdout))
	}
	return diagnoseSections(js, *format, stdout, stderr)
}

// checkAsked reports whether args turn --check on, whether or not they
// parse: past an argument fs stopped at — a bad flag or value, an operand —
// it parses on, up to a "--" that ends the flags.
func checkAsked(fs *flag.FlagSet, args []string, check *bool) bool {
	for {
		rest := fs.Args()
		used := len(args) - len(rest)
		if len(rest) == 0 || used > 0 && args[used-1] == "--" {
			return *check
		}
		if used == 0 {
			rest = rest[1:] // not consumed: bad flag syntax, or an operand
		}
		args = rest
		_ = fs.Parse(args)
	}
}

// judgeSelection observes the selected namespaces and judges each;
// several come worst first.
func judgeSelection(sel judge.Selection, set *policies.Set, samples int, interval time.Duration, stderr io.Writer) ([]judge.TargetJudgement, error) {
	targets, err := sel.Targets(paths)
	if err != nil {
		return nil, err
	}
	js := judge.JudgeAll(targets, set, samples, interval, sel.Depth(), progress(stderr, samples, interval))
	if !sel.Many() && js[0].Err != nil {
		return nil, js[0].Err
	}
	if sel.Many() {
		judge.WorstFirst(js)
	}
	return js, nil
}

// diagnoseSections writes one section per namespace: in JSON every
// namespace, in text those with something to say, then a line naming the
// quiet ones.
func diagnoseSections(js []judge.TargetJudgement, format string, stdout, stderr io.Writer) error {
	var sections []report.Section
	var quiet []string
	var failed error
	o := textOptions(stdout)
	for _, j := range js {
		sec := report.Section{Netns: j.NS, Precheck: report.PrecheckOf(j.Judgement)}
		if j.Err != nil {
			sec.Error = j.Err.Error()
			fmt.Fprintf(stderr, "tcp-advisor diagnose: namespace %s: %v\n", j.NS, j.Err)
			sections = append(sections, sec)
			continue
		}
		if err := ruleFailures(j.Judgement, stderr); err != nil {
			failed = err
		}
		d := report.NewDiagnosis(j.Last, j.Findings, j.Recs)
		sec.Diagnosis = d
		sections = append(sections, sec)
		if format == "json" {
			continue
		}
		if d.Level == advisor.SeverityOK && d.CloseWait.Count == 0 && d.TimeWait.Count == 0 {
			quiet = append(quiet, j.NS.String())
			continue
		}
		if err := report.WriteSection(stdout, j.NS, sec.Precheck, func(w io.Writer) error { return d.WriteText(w, o) }); err != nil {
			return err
		}
	}
	if format == "json" {
		if err := report.WriteSectionsJSON(stdout, sections); err != nil {
			return err
		}
		return failed
	}
	report.WriteQuiet(stdout, quiet)
	fmt.Fprintln(stdout, report.DumpedLine(sections))
	return failed
}

// diagnoseCheck runs diagnose as a monitoring plugin: anything that keeps
// the check from judging — policies that do not load, an observation or a
// rule that fails — is UNKNOWN, never OK. Over several namespaces the worst
// one decides, and the line names it.
func diagnoseCheck(policyPaths []string, judgeAll func(*policies.Set) ([]judge.TargetJudgement, bool, error), stdout, stderr io.Writer) error {
	unknown := func(err error) error {
		report.WriteCheckUnknown(stdout, err)
		return exitError{code: unknownStatus}
	}
	set, err := loadPolicies(policyPaths, stderr)
	if err != nil {
		return unknown(err)
	}
	js, many, err := judgeAll(set)
	if err != nil {
		return unknown(err)
	}
	line, status := "", -1
	for _, j := range js {
		if j.Err != nil {
			return unknown(fmt.Errorf("namespace %s: %w", j.NS, j.Err))
		}
		if err := ruleFailures(j.Judgement, stderr); err != nil {
			return unknown(err)
		}
		l, s := report.NewDiagnosis(j.Last, j.Findings, j.Recs).Check()
		if s > status {
			line, status = l, s
			if many {
				line = report.CheckIn(line, j.NS)
			}
		}
	}
	fmt.Fprintln(stdout, line)
	if status != 0 {
		return exitError{code: status}
	}
	return nil
}
