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
	"strings"
	"time"
)

// command is one subcommand: its name, a one-line summary, what --help and
// the man page say beyond it, its operands and its entry point. The table
// below, with the flag set each command parses, is the one source of
// --help, the man page and the shell completions.
type command struct {
	name    string
	summary string
	details []string
	// operands is the synopsis of the positional arguments; a command
	// without refuses any.
	operands string
	// operandValues are the operands' values, for completion; operandFiles
	// completes file names instead.
	operandValues []string
	operandFiles  bool
	// hidden commands build the documentation; help leaves them out.
	hidden bool
	run    func(args []string, stdout, stderr io.Writer) error
}

// commandTable returns the commands in the order help lists them.
func commandTable() []command {
	return []command{
		{name: "diagnose", summary: "observe this host and explain its TCP state with numbers", details: []string{
			"With --all-namespaces a namespace's sockets are dumped only where its counters say a destination could run short or a rule asks for per-socket detail: every dump walks the host's whole shared socket table. Each namespace says whether it was dumped and why (JSON: precheck); --full dumps every one.",
		}, run: runDiagnose},
		{name: "plan", summary: "observe once, evaluate the policies and show the sysctl changes they propose", details: []string{
			"With --all-namespaces a namespace's sockets are dumped only where its counters say a destination could run short or a rule asks for per-socket detail: every dump walks the host's whole shared socket table. Each namespace says whether it was dumped and why (JSON: precheck); --full dumps every one.",
		}, run: runPlan},
		{name: "record", summary: "record the observation series the analysis reads, for replay and policy tests", details: []string{
			"record observes as the agent does, every --interval for --for, dumping CLOSE_WAIT, FIN_WAIT2 and LISTEN sockets every --detail-interval and every socket when the pre-check calls for it, and writes gzip-compressed JSON with a format version (its JSON Schema is advisor/record/recording.schema.json): sysctls, counters, the socket states, per-destination port use with TIME_WAIT ages, the owners of the busiest destinations, and every CLOSE_WAIT and listening socket (leaks are matched across samples), never every socket. Addresses and names are kept as observed; --redact replaces them with consistent stand-ins (loopback and unspecified addresses kept, as the analysis tells them apart). diagnose --replay and plan --replay judge a recording on any machine, without privileges.",
		}, run: runRecord},
		{name: "test", summary: "run the policy tests (*.hcltest) against their recordings", operands: "[PATH...]", operandFiles: true, details: []string{
			"Each test names a recording, a moment in it and the outcome the policies must reach there: the plan's level and exactly its changes (with values), refusals (with guardrails) and advice (with severity and texts). The policies tested are the --policy paths, else the *.hcl files beside each test file, layered on the defaults as the agent layers them. A failure is printed as a diff of the expected and the actual outcome with the test's file:line. Exit status as go test: 0 every test passed, 1 a test failed or could not run (or no test was found), 2 a usage error. --update rewrites the expect blocks to the outcome reached now.",
		}, run: runPolicyTests},
		{name: "validate", summary: "check policy files or directories without touching the kernel", details: []string{
			"The files are layered on the built-in defaults as the agent layers them; errors print as file:line:column: message, and the exit status is 1. With --agent PID, validate also checks the policy paths of that running agent (its --policy flags, read from its command line): the packaged unit's ExecReload runs validate --quiet --agent $MAINPID before it signals the agent, so systemctl reload fails on policies that do not compile.",
		}, operands: "[PATH]...", operandFiles: true, run: runValidate},
		{name: "run", summary: "run the agent: observe, plan and (in enforce mode) apply every interval", details: []string{
			"In enforce mode the agent first checks that it may write the sysctls its rules set, and refuses to start when it may not (neither root nor CAP_NET_ADMIN over the network namespace, or a read-only /proc/sys). SIGHUP reloads the policies: a set that fails to load, or asks for enforce mode without that permission, is logged at priority err and the previous one stays in force.",
		}, run: runAgent},
		{name: "apply", summary: "apply the current plan once (asks first unless --yes)", details: []string{
			"The plan is shown first. On a terminal apply asks before writing anything; without a terminal and without --yes it refuses and changes nothing.",
		}, run: runApply},
		{name: "rollback", summary: "restore the original values of the sysctls tcp-advisor changed (asks first unless --yes)", details: []string{
			"What would be restored is shown first. On a terminal rollback asks before writing anything; without a terminal and without --yes it refuses and changes nothing. A key someone else changed after tcp-advisor did is released: tcp-advisor keeps that value and stops managing the key. rollback names the released keys it leaves alone; --key KEY restores one's original all the same. Without a state file in --state-dir tcp-advisor has changed nothing, and rollback says so and creates nothing.",
		}, run: runRollback},
		{name: "status", summary: "show what tcp-advisor manages, the originals and the last changes", details: []string{
			"Without a state file in --state-dir tcp-advisor has changed nothing there, and status says so and creates nothing.",
			"The text ends with whether this process gets the kernel's connection events (an eBPF program, CAP_BPF and CAP_PERFMON), or why not: \"kernel events unavailable: REASON\"; --format json says it in \"events\" (\"available\", \"unavailable\"). The agent's status line says the same for the agent.",
		}, run: runStatus},
		{name: "version", summary: "print the version, the commit and the Go version it was built with", run: runVersion},
		{name: "netns-names", summary: "list the names --netns takes, one a line, for shell completion", hidden: true, run: runNetnsNames},
		{name: "gen-man", summary: "write the tcp-advisor(8) man page (roff) to standard output", hidden: true, run: runGenMan},
		{name: "gen-completion", summary: "write a shell completion script to standard output", operands: "SHELL", operandValues: []string{"bash", "zsh"}, hidden: true, run: runGenCompletion},
	}
}

// lookup returns the command called name.
func lookup(name string) (command, bool) {
	for _, c := range commandTable() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// exitError carries a specific exit code out of a subcommand.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the command args[0] names and returns the exit status: 0 done,
// 1 a runtime error, 2 a usage error (an unknown command or flag, a bad
// value, an unexpected argument), or what the command chose. An error is
// printed once, to stderr.
func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		_ = program().WriteUsage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			return dispatch([]string{args[1], "--help"}, stdout, stderr)
		}
		_ = program().WriteUsage(stdout)
		return 0
	case "-version", "--version":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "tcp-advisor: %s takes no arguments\n", args[0])
			return 2
		}
		fmt.Fprintln(stdout, versionLine())
		return 0
	}
	c, ok := lookup(args[0])
	if !ok {
		what := "command"
		if strings.HasPrefix(args[0], "-") {
			what = "flag"
		}
		fmt.Fprintf(stderr, "tcp-advisor: unknown %s %q\n\n", what, args[0])
		_ = program().WriteUsage(stderr)
		return 2
	}
	err := c.run(args[1:], stdout, stderr)
	var ee exitError
	var ue usageError
	var help helpRequest
	switch {
	case err == nil:
		return 0
	case errors.As(err, &help):
		if werr := about().WriteHelp(stdout, describeWith(c, help.fs)); werr != nil {
			fmt.Fprintf(stderr, "tcp-advisor %s: %v\n", c.name, werr)
			return 1
		}
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%stcp-advisor %s: %v\nRun 'tcp-advisor %s --help' for usage.\n", errPrefix(stderr), c.name, err, c.name)
		return ue.exitCode()
	default:
		fmt.Fprintf(stderr, "%stcp-advisor %s: %v\n", errPrefix(stderr), c.name, err)
		return 1
	}
}

// newFlags returns a flag set for a subcommand. It prints nothing itself:
// parseFlags turns its errors into usage errors, which dispatch prints once,
// and a request for help into the command's help.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("tcp-advisor "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// formatFlag registers --format; its check, for parseFlags, refuses
// anything but text and json.
func formatFlag(fs *flag.FlagSet) (*string, func() error) {
	f := fs.String("format", "text", "output format: text or json")
	return f, func() error {
		if *f != "text" && *f != "json" {
			return usagef("--format %q: want text or json", *f)
		}
		return nil
	}
}

// maxSamples bounds --samples: a window is held in memory.
const maxSamples = 1000

// sampleFlags registers --samples, def by default, and --interval for
// one-shot observation; its check, for parseFlags, refuses fewer than 1
// or more than maxSamples samples.
func sampleFlags(fs *flag.FlagSet, def int) (*int, *time.Duration, func() error) {
	n := fs.Int("samples", def, "samples to observe (two or more give rates)")
	return n, durationFlag(fs, "interval", time.Second, "time between samples"), func() error {
		if *n < 1 || *n > maxSamples {
			return usagef("--samples %d: want 1 to %d", *n, maxSamples)
		}
		return nil
	}
}

// usageError is a mistake in how a command was called: dispatch prints it
// with a pointer to the command's --help and exits with code, 2 when zero.
type usageError struct {
	err  error
	code int
}

// usagef returns a usageError with exit status 2.
func usagef(format string, args ...any) error {
	return usageError{err: fmt.Errorf(format, args...)}
}

// exitCode is the exit status of the usage error.
func (e usageError) exitCode() int {
	if e.code == 0 {
		return 2
	}
	return e.code
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
