package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// run calls dispatch in-process, as main does.
func run(args ...string) (stdout, stderr string, code int) {
	var out, errOut strings.Builder
	code = dispatch(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// flagsOf returns a command's flag set, as --help finds it.
func flagsOf(t *testing.T, c command) *flag.FlagSet {
	t.Helper()
	var fs *flag.FlagSet
	err := c.run([]string{"--help"}, os.Stdout, os.Stderr)
	if h, ok := err.(helpRequest); ok {
		fs = h.fs
	} else {
		t.Fatalf("%s --help: %v, want a help request before any work", c.name, err)
	}
	return fs
}

// TestUsageErrorsPrintOnceAndExit2: for every command, an unknown flag, a
// flag without its value, and an argument it does not take (for those that
// take none) exit 2 and print the error once, on stderr, with nothing on
// stdout. --help prints the command's help on stdout and exits 0.
func TestUsageErrorsPrintOnceAndExit2(t *testing.T) {
	for _, c := range commandTable() {
		t.Run(c.name, func(t *testing.T) {
			cases := []struct {
				name, marker string
				args         []string
			}{
				{"unknown flag", "flag provided but not defined: --no-such-flag\n", []string{"--no-such-flag"}},
			}
			fs := flagsOf(t, c)
			fs.VisitAll(func(f *flag.Flag) {
				if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
					return
				}
				cases = append(cases, struct {
					name, marker string
					args         []string
				}{"--" + f.Name + " without a value", "flag needs an argument: --" + f.Name + "\n", []string{"--" + f.Name}})
			})
			if c.operands == "" {
				cases = append(cases, struct {
					name, marker string
					args         []string
				}{"extra argument", `unexpected argument "extra"`, []string{"extra"}})
			}
			for _, tt := range cases {
				stdout, stderr, code := run(append([]string{c.name}, tt.args...)...)
				if code != 2 {
					t.Errorf("%s: exit %d, want 2\nstdout: %s\nstderr: %s", tt.name, code, stdout, stderr)
				}
				if n := strings.Count(stderr, tt.marker); n != 1 {
					t.Errorf("%s: %q appears %d times on stderr, want once:\n%s", tt.name, tt.marker, n, stderr)
				}
				if !strings.HasPrefix(stderr, "tcp-advisor "+c.name+": ") || !strings.Contains(stderr, "tcp-advisor "+c.name+" --help") {
					t.Errorf("%s: stderr does not name the command and its --help:\n%s", tt.name, stderr)
				}
				if stdout != "" {
					t.Errorf("%s: wrote to stdout: %q", tt.name, stdout)
				}
			}
			for _, h := range []string{"-h", "--help"} {
				stdout, stderr, code := run(c.name, h)
				if code != 0 || !strings.HasPrefix(stdout, "Usage: tcp-advisor "+c.name) || stderr != "" {
					t.Errorf("%s %s: exit %d\nstdout: %s\nstderr: %s", c.name, h, code, stdout, stderr)
				}
			}
		})
	}
}

// TestDurationFlags: every duration flag of every command refuses a bare
// number with the unit it needs, and zero, negative and malformed
// durations, with exit 2.
func TestDurationFlags(t *testing.T) {
	n := 0
	for _, c := range commandTable() {
		flagsOf(t, c).VisitAll(func(f *flag.Flag) {
			if _, ok := f.Value.(durationValue); !ok {
				return
			}
			n++
			for _, tt := range []struct{ value, want string }{
				{"5", "did you mean 5s?"},
				{"2.5", "did you mean 2.5s?"},
				{"0", "more than zero"},
				{"0s", "more than zero"},
				{"-5", "more than zero"},
				{"-1s", "more than zero"},
				{"fast", "not a duration"},
			} {
				_, stderr, code := run(c.name, "--"+f.Name, tt.value)
				if code != 2 || strings.Count(stderr, tt.want) != 1 || !strings.Contains(stderr, " for flag --"+f.Name+": ") {
					t.Errorf("%s --%s %s: exit %d, want 2 and %q once:\n%s", c.name, f.Name, tt.value, code, tt.want, stderr)
				}
				_, stderr, code = run(c.name, "--"+f.Name+"="+tt.value)
				if code != 2 || strings.Count(stderr, tt.want) != 1 {
					t.Errorf("%s --%s=%s: exit %d, want 2 and %q once:\n%s", c.name, f.Name, tt.value, code, tt.want, stderr)
				}
			}
		})
	}
	if n < 5 {
		t.Errorf("found %d duration flags; diagnose, plan, apply and run (two) have one each at least", n)
	}
}

// TestBadValuesExit2: values the flag package accepts but the command
// refuses are usage errors too.
func TestBadValuesExit2(t *testing.T) {
	for _, args := range [][]string{
		{"diagnose", "--samples", "0"},
		{"diagnose", "--samples", "-3"},
		{"plan", "--samples", "0"},
		{"apply", "--samples", "-1"},
		{"plan", "--samples", "1001"},
		{"plan", "--format", "xml"},
		{"diagnose", "--format", "yaml"},
		{"status", "--format", "xml"},
		{"status", "--history", "-1"},
		{"run", "--mode", "fast"},
		{"run", "--interval", "500ms"},
		{"run", "--detail-interval", "10ms"},
		{"run", "--metrics-top", "0"},
		{"validate"},
		{"gen-completion"},
		{"gen-completion", "fish"},
		{"version", "now"},
		{"--version", "now"},
	} {
		stdout, stderr, code := run(args...)
		if code != 2 || stderr == "" || stdout != "" {
			t.Errorf("%v: exit %d, want 2 with the error on stderr only\nstdout: %s\nstderr: %s", args, code, stdout, stderr)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	for _, name := range []string{"diagnoze", "--verbose"} {
		stdout, stderr, code := run(name)
		if code != 2 || strings.Count(stderr, name) != 1 || !strings.Contains(stderr, "Commands:") || stdout != "" {
			t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s", name, code, stdout, stderr)
		}
	}
	if _, stderr, code := run(); code != 2 || !strings.HasPrefix(stderr, "Usage: tcp-advisor COMMAND") {
		t.Errorf("no arguments: exit %d\n%s", code, stderr)
	}
	for _, h := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		if stdout, _, code := run(h...); code != 0 || !strings.Contains(stdout, "Commands:") || strings.Contains(stdout, "gen-man") {
			t.Errorf("%v: exit %d\n%s", h, code, stdout)
		}
	}
	if stdout, _, code := run("help", "status"); code != 0 || !strings.HasPrefix(stdout, "Usage: tcp-advisor status [flags]") {
		t.Errorf("help status: exit %d\n%s", code, stdout)
	}
}

// TestRuntimeErrorsExit1: a failure while working, not in how the command
// was called, exits 1 and prints the error once.
func TestRuntimeErrorsExit1(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.hcl")
	if err := os.WriteFile(broken, []byte("rule \"x\" {\n  when = \n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "state")
	if err := os.MkdirAll(corrupt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, "state.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"validate", broken}, "broken.hcl:"},
		{[]string{"plan", "--policy", broken}, "policies did not load"},
		{[]string{"apply", "--policy", filepath.Join(dir, "missing.hcl")}, "missing.hcl"},
		{[]string{"status", "--state-dir", corrupt}, "state.json"},
	} {
		_, stderr, code := run(tt.args...)
		if code != 1 || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "--help") {
			t.Errorf("%v: exit %d, want 1 and %q:\n%s", tt.args, code, tt.want, stderr)
		}
	}
}

// TestMissingStateDir: status and rollback on a state directory that does
// not exist say that tcp-advisor has changed nothing there, and leave it
// missing.
func TestMissingStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "never-used")
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status"}, 0, "No state in " + dir + ": tcp-advisor has changed nothing here."},
		{[]string{"rollback"}, 0, "No state in " + dir + ": tcp-advisor has changed nothing here. Nothing to roll back."},
		{[]string{"rollback", "--yes"}, 0, "Nothing to roll back."},
		{[]string{"rollback", "--key", "net.ipv4.tcp_fin_timeout"}, 1, "no state in " + dir + ": tcp-advisor has changed nothing here and holds no original of net.ipv4.tcp_fin_timeout"},
	} {
		stdout, stderr, code := run(append(tt.args, "--state-dir", dir)...)
		if code != tt.code || !strings.Contains(stdout+stderr, tt.want) || strings.Contains(stdout, "manages no sysctl") {
			t.Errorf("%v: exit %d, want %d and %q\nstdout: %s\nstderr: %s", tt.args, code, tt.code, tt.want, stdout, stderr)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("%v created %s: %v", tt.args, dir, err)
		}
	}
	stdout, _, code := run("status", "--format", "json", "--state-dir", dir)
	var st struct {
		Managed     []any `json:"managed"`
		LastChanges []any `json:"last_changes"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); code != 0 || err != nil || st.Managed == nil || len(st.Managed) != 0 || st.LastChanges == nil {
		t.Errorf("status --format json: exit %d, %v:\n%s", code, err, stdout)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("status --format json created %s: %v", dir, err)
	}
}

func TestFlagHintsNameRealFlags(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range commandTable() {
		flagsOf(t, c).VisitAll(func(f *flag.Flag) { seen[f.Name] = true })
	}
	for name := range flagHints {
		if !seen[name] {
			t.Errorf("flagHints has %q, which no command takes", name)
		}
	}
}

// TestErrorsToTheJournalAreErrors: when stderr is the journal stream
// systemd set up (JOURNAL_STREAM), an error line starts with <3>, which
// journald records at priority err; on any other stderr it does not.
func TestErrorsToTheJournalAreErrors(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		stream, want string
	}{
		{"", "tcp-advisor run: "},
		{"1:2", "tcp-advisor run: "},
		{fmt.Sprintf("%d:%d", st.Dev, st.Ino), "<3>tcp-advisor run: "},
	} {
		t.Setenv("JOURNAL_STREAM", tt.stream)
		f.Truncate(0)
		f.Seek(0, 0)
		if code := dispatch([]string{"run", "--mode", "fast"}, io.Discard, f); code != 2 {
			t.Fatalf("exit %d", code)
		}
		b, _ := os.ReadFile(f.Name())
		if !strings.HasPrefix(string(b), tt.want) {
			t.Errorf("JOURNAL_STREAM=%q: stderr %q, want it to start with %q", tt.stream, b, tt.want)
		}
	}
}

// TestCheckUsageErrorsAreUnknown: diagnose --check called wrongly has checked
// nothing, so it says UNKNOWN and exits 3, wherever --check stands among the
// flags; without --check (or with --check=false) a usage error stays exit 2.
func TestCheckUsageErrorsAreUnknown(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"--check", "--no-such-flag"}, 3},
		{[]string{"--no-such-flag", "--check"}, 3},
		{[]string{"-check", "--samples", "0"}, 3},
		{[]string{"--check=true", "--interval", "5"}, 3},
		{[]string{"--check", "--format", "xml"}, 3},
		{[]string{"--check", "extra"}, 3},
		{[]string{"--check=false", "--no-such-flag"}, 2},
		{[]string{"--no-such-flag"}, 2},
	}
	for _, tt := range tests {
		stdout, stderr, code := run(append([]string{"diagnose"}, tt.args...)...)
		if code != tt.want {
			t.Errorf("diagnose %v: exit %d, want %d\nstdout: %s\nstderr: %s", tt.args, code, tt.want, stdout, stderr)
			continue
		}
		if tt.want == 3 && (!strings.HasPrefix(stdout, "TCP-ADVISOR UNKNOWN - usage: ") || strings.Count(stdout, "\n") != 1) {
			t.Errorf("diagnose %v: stdout %q, want one UNKNOWN line", tt.args, stdout)
		}
		if !strings.Contains(stderr, "tcp-advisor diagnose --help") {
			t.Errorf("diagnose %v: stderr does not point at --help: %q", tt.args, stderr)
		}
	}
}

// TestRunFailureIsAnEvent: an error that stops the agent is an
// agent_failed event (MESSAGE_ID and catalog entry), said once, exit 1.
// Where no journal listens the event is the stderr line.
func TestRunFailureIsAnEvent(t *testing.T) {
	if _, err := os.Stat("/run/systemd/journal/socket"); err == nil {
		t.Skip("journald listens here: the event goes there, not to stderr")
	}
	policy := filepath.Join(t.TempDir(), "broken.hcl")
	if err := os.WriteFile(policy, []byte("rule \"x\" {\n  when = \n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	code := dispatch([]string{"run", "--policy", policy, "--state-dir", t.TempDir()}, io.Discard, &stderr)
	failed := regexp.MustCompile(`(?m)^\S+ err agent_failed: tcp-advisor agent failed: policies did not compile`)
	if code != 1 || len(failed.FindAllString(stderr.String(), -1)) != 1 || strings.Contains(stderr.String(), "tcp-advisor run: ") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and one agent_failed line, no other error line", code, stderr.String())
	}
}
