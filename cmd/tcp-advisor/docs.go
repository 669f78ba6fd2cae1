package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tcp-advisor/tcp-advisor/advisor"
	"github.com/tcp-advisor/tcp-advisor/cmd/internal/clidoc"
)

// flagHints say what the flag sets do not: argument names and what a value
// completes to. A test checks every hint names a flag some command has.
var flagHints = map[string]clidoc.Hint{
	"policy":           {Arg: "PATH", Complete: clidoc.CompleteFiles},
	"state-dir":        {Arg: "DIR", Complete: clidoc.CompleteDirs},
	"persist-path":     {Arg: "FILE", Complete: clidoc.CompleteFiles},
	"format":           {Arg: "FORMAT", Values: []string{"text", "json"}},
	"mode":             {Arg: "MODE", Values: []string{string(advisor.ModeDryRun), string(advisor.ModeEnforce)}},
	"key":              {Arg: "KEY", Values: advisor.SettableKeys()},
	"samples":          {Arg: "N"},
	"history":          {Arg: "N"},
	"netns":            {Arg: "NAME", ValuesFrom: "tcp-advisor netns-names"},
	"netns-pid":        {Arg: "PID"},
	"metrics-textfile": {Arg: "FILE", Complete: clidoc.CompleteFiles},
	"metrics-listen":   {Arg: "ADDR"},
	"metrics-top":      {Arg: "N"},
}

// describe returns a command as the documentation shows it: its flags are
// the ones it parses, found by asking it for help.
func describe(c command) (clidoc.Command, error) {
	err := c.run([]string{"--help"}, io.Discard, io.Discard)
	var help helpRequest
	if !errors.As(err, &help) {
		return clidoc.Command{}, fmt.Errorf("%s --help did not stop at its flags: %v", c.name, err)
	}
	return describeWith(c, help.fs), nil
}

// describeWith returns a command with the flags of fs.
func describeWith(c command, fs *flag.FlagSet) clidoc.Command {
	hints := map[string]clidoc.Hint{}
	fs.VisitAll(func(f *flag.Flag) {
		h, ok := flagHints[f.Name]
		if _, isDuration := f.Value.(durationValue); isDuration && !ok {
			h = clidoc.Hint{Arg: "DURATION"}
		}
		hints[f.Name] = h
	})
	return clidoc.Command{
		Name: c.name, Summary: c.summary, Details: c.details,
		Operands: c.operands, OperandValues: c.operandValues, OperandFiles: c.operandFiles,
		Flags: clidoc.FlagsOf(fs, hints), Hidden: c.hidden,
	}
}

// program describes tcp-advisor for --help, the man page and completion.
// Every command must stop at --help; one that does not panics here, and the
// tests call this.
func program() clidoc.Program {
	p := about()
	for _, c := range commandTable() {
		d, err := describe(c)
		if err != nil {
			panic(err)
		}
		p.Commands = append(p.Commands, d)
	}
	return p
}

// about describes tcp-advisor without its commands, which one command's
// --help does not need: describing them all runs every command's --help.
func about() clidoc.Program {
	v, _ := versionInfo()
	return clidoc.Program{
		Name: "tcp-advisor", Section: "8", Version: v, Date: buildDate(), Manual: "System Administration",
		Summary: "Linux TCP sysctl tuning advisor and remediation agent",
		Description: []string{
			"tcp-advisor watches a Linux host's TCP sockets (netlink sock_diag) and counters against its port and TIME_WAIT sysctls: per-destination ephemeral port exhaustion, TIME_WAIT demand, CLOSE_WAIT leaks with the owning process and systemd unit. It explains what it sees with numbers, plans sysctl changes from HCL policies and, in enforce mode and within guardrails, applies them, remembering every original value so that rollback restores it.",
			"Every command starts from the policies embedded in the binary and layers the --policy files and directories on top: a rule with a default's name replaces it, and guardrails merge with the tighter bound winning. tcp-advisor works on the network namespace it runs in; run it inside a container's namespace (ip netns exec, nsenter --net) to tune that namespace.",
			"Flags are written --name VALUE or --name=VALUE. Durations take a unit: 500ms, 5s, 2m.",
		},
		Global: []clidoc.Flag{
			{Name: "help", Usage: "show the commands; tcp-advisor COMMAND --help shows a command's flags"},
			{Name: "version", Usage: "print the version, the commit and the Go version tcp-advisor was built with"},
		},
		Sections: []clidoc.Section{
			{Title: "Exit status", Items: []clidoc.Item{
				{Tag: "0", Text: "Success."},
				{Tag: "1", Text: "A runtime error: the kernel, a policy or the state could not be read or written, or a change failed."},
				{Tag: "2", Text: "A usage error: an unknown command or flag, a bad value, an unexpected argument. The error is printed once, on standard error."},
				{Text: "Some flags give the exit status a meaning of their own, and say which: plan --detailed-exitcode, diagnose --check."},
			}},
			{Title: "Environment", Items: []clidoc.Item{
				{Tag: "NO_COLOR", Text: "When set, text output on a terminal has no colour."},
				{Tag: "NOTIFY_SOCKET, WATCHDOG_USEC", Text: "Set by systemd for run: readiness, status and watchdog pings go there."},
			}},
			{Title: "Files", Items: []clidoc.Item{
				{Tag: "/etc/tcp-advisor/policies.d/", Text: "Policy files the service layers on the defaults (run --policy)."},
				{Tag: "/usr/share/tcp-advisor/policies/", Text: "The default policies, as the binary embeds them, to copy from."},
				{Tag: "/var/lib/tcp-advisor/state.json", Text: "The default --state-dir's state: the keys tcp-advisor manages, their original values and the change history."},
				{Tag: "/etc/tcp-advisor/tcp-advisor.env", Text: "TCP_ADVISOR_ARGS, extra flags for the service's run."},
				{Tag: "/etc/sysctl.d/90-tcp-advisor.conf", Text: "The drop-in written when a policy asks for persistence (agent { persist = true })."},
			}},
			{Title: "Copyright", Items: []clidoc.Item{
				{Text: "Copyright 2026 The tcp-advisor Authors. Licensed under the Apache License, Version 2.0 (SPDX: Apache-2.0); the packages install its text (/usr/share/doc/tcp-advisor/copyright and /usr/share/common-licenses/Apache-2.0 on Debian, /usr/share/licenses/tcp-advisor/LICENSE on RPM distributions). Distributed on an \"AS IS\" basis, without warranties or conditions of any kind."},
			}},
			{Title: "See also", Items: []clidoc.Item{
				{Text: "sysctl(8), ss(8), systemctl(1), journalctl(1), ip-netns(8)"},
			}},
		},
	}
}

func runGenMan(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gen-man")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return program().WriteMan(stdout)
}

func runGenCompletion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gen-completion")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("name one shell: bash or zsh")
	}
	switch fs.Arg(0) {
	case "bash":
		return program().WriteBash(stdout)
	case "zsh":
		return program().WriteZsh(stdout)
	}
	return usagef("shell %q: want bash or zsh", fs.Arg(0))
}
