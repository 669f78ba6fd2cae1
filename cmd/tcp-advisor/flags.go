package main

import (
	"errors"
	"flag"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// helpRequest is a command's -h or --help: dispatch prints the help of its
// flag set to stdout and exits 0.
type helpRequest struct{ fs *flag.FlagSet }

func (h helpRequest) Error() string { return flag.ErrHelp.Error() }
func (h helpRequest) Unwrap() error { return flag.ErrHelp }

// parseFlags parses a command's arguments, then runs checks in order: the
// values the flag package accepts but the command refuses. A bad flag or
// value is a usage error, -h or --help a helpRequest, and a positional
// argument a usage error unless the command takes operands.
func parseFlags(fs *flag.FlagSet, args []string, checks ...func() error) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return helpRequest{fs}
	case err != nil:
		return usageError{err: errors.New(doubleDash(err.Error()))}
	}
	name := strings.TrimPrefix(fs.Name(), "tcp-advisor ")
	if c, ok := lookup(name); ok && c.operands == "" && fs.NArg() > 0 {
		return usagef("unexpected argument %q: %s takes no arguments, only flags", fs.Arg(0), name)
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// flagNameRE finds the flag name in the flag package's errors ("flag
// provided but not defined: -x", "invalid value "5" for flag -interval:
// ...", "flag needs an argument: -mode"), which it writes with one dash.
var flagNameRE = regexp.MustCompile(`(: |flag |for )-([A-Za-z0-9][A-Za-z0-9_-]*)`)

// doubleDash rewrites the first flag name in a flag package error as
// tcp-advisor documents its flags: --interval, not -interval.
func doubleDash(msg string) string {
	m := flagNameRE.FindStringSubmatchIndex(msg)
	if m == nil {
		return msg
	}
	return msg[:m[4]-1] + "--" + msg[m[4]:]
}

// durationValue is a duration flag that must be more than zero and says
// what a bare number lacks.
type durationValue struct{ d *time.Duration }

// durationFlag registers a duration flag: "5" is refused with "did you mean
// 5s?", zero and negative durations are refused.
func durationFlag(fs *flag.FlagSet, name string, def time.Duration, usage string) *time.Duration {
	d := new(time.Duration)
	*d = def
	fs.Var(durationValue{d}, name, usage)
	return d
}

func (v durationValue) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

// Get returns the duration (flag.Getter).
func (v durationValue) Get() any { return *v.d }

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		if n, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			if n <= 0 {
				return fmt.Errorf("want a duration of more than zero")
			}
			return fmt.Errorf("a duration needs a unit: did you mean %ss?", s)
		}
		return fmt.Errorf("not a duration: write it as 5s, 500ms or 2m")
	}
	if d <= 0 {
		return fmt.Errorf("want a duration of more than zero")
	}
	*v.d = d
	return nil
}

// Repeatable marks --policy and --key as flags given once per value.
func (p *pathList) Repeatable() bool { return true }
