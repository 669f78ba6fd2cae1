package main

import (
	"io"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/advisor/report"
)

func runDiagnose(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("diagnose", stderr)
	samples := fs.Int("samples", 1, "number of samples to take")
	interval := fs.Duration("interval", time.Second, "time between samples")
	format := formatFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	if err := checkSamples(*samples); err != nil {
		return err
	}
	window, err := observe.New(procRoot, sysRoot).Window(*samples, *interval, observe.Full)
	if err != nil {
		return err
	}
	d := report.NewDiagnosis(advisor.Analyze(window))
	if *format == "json" {
		return d.WriteJSON(stdout)
	}
	return d.WriteText(stdout)
}
