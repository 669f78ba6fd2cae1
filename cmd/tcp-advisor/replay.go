package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tcp-advisor/tcp-advisor/advisor/netns"
	"github.com/tcp-advisor/tcp-advisor/advisor/record"
	"github.com/tcp-advisor/tcp-advisor/cmd/internal/report"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/policies/judge"
)

// replayOptions are --replay, --at and --record, shared by diagnose and plan.
type replayOptions struct {
	file   string
	at     offsetValue
	record string
}

// replayFlags registers --replay, --at and --record; the check refuses
// --at without --replay and --record with it.
func replayFlags(fs *flag.FlagSet) (*replayOptions, func() error) {
	o := &replayOptions{at: offsetValue{d: -1}}
	fs.StringVar(&o.file, "replay", "", "judge a recording (from record, --record or the agent's flight recorder) instead of this host: no privileges needed, nothing of this host read")
	fs.Var(&o.at, "at", "with --replay, the moment to judge: an offset from the recording's start such as 90s (default: its last frame)")
	fs.StringVar(&o.record, "record", "", "also write the samples judged to this recording file, for --replay and policy tests")
	return o, func() error {
		if o.at.d >= 0 && o.file == "" {
			return usagef("--at needs --replay")
		}
		if o.record == "-" {
			return usagef("--record needs a file name: standard output carries the report")
		}
		if o.record != "" && o.file != "" {
			return usagef("--record and --replay: a replay has nothing new to record")
		}
		return nil
	}
}

// offsetValue is --at: "last" (negative) or a duration of zero or more.
type offsetValue struct{ d time.Duration }

func (v *offsetValue) String() string {
	if v == nil || v.d < 0 {
		return "last"
	}
	return v.d.String()
}

func (v *offsetValue) Set(s string) error {
	if s == "last" {
		v.d = -1
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("want an offset such as 90s or 2m30s, or last")
	}
	v.d = d
	return nil
}

// replayJudgements judges every series of the recording --replay names.
func replayJudgements(o *replayOptions, set *policies.Set) ([]judge.TargetJudgement, error) {
	rec, err := record.ReadFile(o.file)
	if err != nil {
		return nil, err
	}
	js, err := judge.ReplayAll(rec, set, o.at.d)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.file, err)
	}
	return js, nil
}

// writeRecording writes the windows judged as a recording made by source.
func writeRecording(path, source string, js []judge.TargetJudgement) error {
	here, err := netns.Current(paths.Proc, paths.Netns)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	return record.WriteFile(path, judge.RecordingOf(js, here, source, host, time.Now()))
}

// writeRecordingFile writes rec to path, or to stdout for "-".
func writeRecordingFile(path string, rec *record.Recording, stdout io.Writer) error {
	if path == "-" {
		return record.Write(stdout, rec)
	}
	return record.WriteFile(path, rec)
}

func runRecord(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("record")
	d := durationFlag(fs, "for", time.Minute, "how long to record")
	interval := durationFlag(fs, "interval", 5*time.Second, "time between samples, as the agent's tick interval")
	detail := durationFlag(fs, "detail-interval", time.Minute, "how often a sample also dumps CLOSE_WAIT, FIN_WAIT2 and LISTEN sockets, as the agent's --detail-interval")
	output := fs.String("output", "", "the recording file to write (gzip-compressed JSON), - for standard output (required)")
	redact := fs.Bool("redact", false, "replace addresses, process, unit, namespace and host names with consistent stand-ins, for sharing")
	sel, selOK := namespaceFlags(fs)
	if err := parseFlags(fs, args, selOK, func() error {
		if *output == "" {
			return usagef("--output FILE is required")
		}
		if *d < *interval {
			return usagef("--for %s is shorter than --interval %s", *d, *interval)
		}
		return nil
	}); err != nil {
		return err
	}
	targets, err := sel.Targets(paths)
	if err != nil {
		return err
	}
	here, err := netns.Current(paths.Proc, paths.Netns)
	if err != nil {
		return err
	}
	n := int(*d / *interval)
	series, errs := judge.Record(targets, here, *d, *interval, *detail, progress(stderr, n+1, *interval))
	rec := record.New("record", time.Now())
	rec.Host, _ = os.Hostname()
	for i, s := range series {
		// Watching every namespace, one that vanishes meanwhile is kept
		// as far as it was seen; the one namespace asked for must last.
		if errs[i] != nil && !sel.Many() {
			return errs[i]
		}
		if errs[i] != nil {
			fmt.Fprintf(stderr, "tcp-advisor record: %v\n", errs[i])
		}
		if len(s.Frames) > 0 {
			rec.Series = append(rec.Series, s)
		}
	}
	if len(rec.Series) == 0 {
		return errors.New("no namespace could be observed")
	}
	if *redact {
		rec.Redact()
	}
	if werr := writeRecordingFile(*output, rec, stdout); werr != nil {
		return werr
	}
	if *output != "-" {
		report.WriteRecorded(stdout, rec, *d, *output)
	}
	return nil
}

// replayAlone refuses the flags that observe this host next to --replay.
func replayAlone(fs *flag.FlagSet, o *replayOptions) func() error {
	return func() error {
		if o.file == "" {
			return nil
		}
		var err error
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "samples", "interval", "all-namespaces", "netns", "netns-pid":
				err = usagef("--%s observes this host; --replay judges the recording instead", f.Name)
			}
		})
		return err
	}
}

// judgements judges the recording --replay names, or observes the selected
// namespaces (and records what it judged when --record asks); many tells
// whether the output has one section per namespace.
func judgements(o *replayOptions, source string, sel judge.Selection, set *policies.Set, samples int, interval time.Duration, stderr io.Writer) ([]judge.TargetJudgement, bool, error) {
	if o.file != "" {
		js, err := replayJudgements(o, set)
		return js, len(js) > 1, err
	}
	js, err := judgeSelection(sel, set, samples, interval, stderr)
	if err != nil {
		return nil, false, err
	}
	if o.record != "" {
		if err := writeRecording(o.record, source, js); err != nil {
			return nil, false, fmt.Errorf("--record: %w", err)
		}
	}
	return js, sel.Many(), nil
}
