package main

import (
	"io"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/remediate/orchestrate"
)

func runDiagnose(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("diagnose", stderr)
	policyPaths := policyFlag(fs)
	samples := fs.Int("samples", 1, "number of samples to take")
	interval := durationFlag(fs, "interval", time.Second, "time between samples")
	format := formatFlag(fs)
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
	j, err := orchestrate.Judge(observe.New(paths.Proc, paths.Sys), set, *samples, *interval)
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
