package main

import (
	"fmt"
	"io"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/remediate/orchestrate"
)

// unknownStatus is a monitoring plugin's exit status for a check that could
// not run.
const unknownStatus = 3

func runDiagnose(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("diagnose", stderr)
	policyPaths := policyFlag(fs)
	samples := fs.Int("samples", 1, "number of samples to take")
	interval := fs.Duration("interval", time.Second, "time between samples")
	format := formatFlag(fs)
	check := fs.Bool("check", false, "behave as a monitoring plugin: print one summary line with performance data and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	if err := checkSamples(*samples); err != nil {
		return err
	}
	if *check {
		return diagnoseCheck(*policyPaths, *samples, *interval, stdout, stderr)
	}
	set, err := loadPolicies(*policyPaths, stderr)
	if err != nil {
		return err
	}
	j, err := orchestrate.Judge(observe.New(paths.Proc, paths.Sys), set, *samples, *interval, progress(stderr, *samples, *interval))
	if err != nil {
		return err
	}
	if err := ruleFailures(j, stderr); err != nil {
		return err
	}
	d := j.Diagnosis()
	if *format == "json" {
		return d.WriteJSON(stdout)
	}
	return d.WriteText(stdout, textOptions(stdout))
}

// diagnoseCheck runs diagnose as a monitoring plugin: anything that keeps
// the check from judging — policies that do not load, an observation or a
// rule that fails — is UNKNOWN, never OK.
func diagnoseCheck(policyPaths []string, samples int, interval time.Duration, stdout, stderr io.Writer) error {
	unknown := func(err error) error {
		fmt.Fprintf(stdout, "TCP-ADVISOR UNKNOWN - %v\n", err)
		return exitError{code: unknownStatus}
	}
	set, err := loadPolicies(policyPaths, stderr)
	if err != nil {
		return unknown(err)
	}
	j, err := orchestrate.Judge(observe.New(paths.Proc, paths.Sys), set, samples, interval, nil)
	if err != nil {
		return unknown(err)
	}
	if err := ruleFailures(j, stderr); err != nil {
		return unknown(err)
	}
	line, status := j.Diagnosis().Check()
	fmt.Fprintln(stdout, line)
	if status != 0 {
		return exitError{code: status}
	}
	return nil
}
