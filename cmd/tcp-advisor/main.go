// Command tcp-advisor watches a Linux host's TCP sockets against its port and
// TIME_WAIT sysctls, explains what it sees, plans sysctl changes from HCL
// policies and, where policy allows, applies them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// command is one subcommand: its name, a one-line summary and its entry point.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"diagnose", "observe this host and explain its TCP state with numbers", runDiagnose},
	{"plan", "observe once, evaluate the policies and show the sysctl changes they propose", runPlan},
	{"validate", "check policy files or directories without touching the kernel", runValidate},
	{"run", "run the agent: observe, plan and (in enforce mode) apply every interval", runAgent},
	{"apply", "apply the current plan once (asks first unless --yes)", runApply},
	{"rollback", "restore the original values of the sysctls tcp-advisor changed", runRollback},
	{"status", "show what tcp-advisor manages, the originals and the last changes", runStatus},
}

// exitError carries a specific exit code out of a subcommand.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		var ee exitError
		var ue usageError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			return ee.code
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "tcp-advisor %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "tcp-advisor %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "tcp-advisor: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: tcp-advisor COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'tcp-advisor COMMAND -h' for a command's flags.\n")
}

// newFlags returns a flag set for a subcommand that reports errors to stderr.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tcp-advisor "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// formatFlag registers --format with the given allowed values.
func formatFlag(fs *flag.FlagSet) *string {
	return fs.String("format", "text", "output format: text or json")
}

func checkFormat(f string) error {
	if f != "text" && f != "json" {
		return fmt.Errorf("--format %q: want text or json", f)
	}
	return nil
}

// maxSamples bounds --samples: a window is held in memory.
const maxSamples = 1000

// sampleFlags registers --samples and --interval for one-shot observation.
func sampleFlags(fs *flag.FlagSet) (*int, *time.Duration) {
	return fs.Int("samples", 2, "samples to observe (two or more give rates)"),
		fs.Duration("interval", time.Second, "time between samples")
}

func checkSamples(n int) error {
	if n < 1 || n > maxSamples {
		return fmt.Errorf("--samples %d: want 1 to %d", n, maxSamples)
	}
	return nil
}

// usageError is a mistake in how a command was called: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
