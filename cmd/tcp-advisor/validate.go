package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/cmd/internal/report"
	"github.com/tcp-advisor/tcp-advisor/policies"
)

func runValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate")
	agent := fs.Int("agent", 0, "also check the policy paths the running agent with this PID reloads (its --policy flags), as the unit's ExecReload does before it signals the agent")
	quiet := fs.Bool("quiet", false, "print only the errors and warnings, not the rules of a set that compiles")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	policyPaths := fs.Args()
	if *agent != 0 {
		agentPaths, err := agentPolicyPaths(paths.Proc, *agent)
		if err != nil {
			return err
		}
		policyPaths = append(policyPaths, agentPaths...)
	} else if fs.NArg() == 0 {
		return usagef("name one or more policy files or directories, or --agent PID")
	}
	set, diags := policies.Load(policyPaths...)
	policies.FormatDiagnostics(stderr, diags)
	if diags.HasErrors() {
		return exitError{code: 1}
	}
	if *quiet {
		return nil
	}
	report.WritePolicySet(stdout, set)
	return nil
}

// agentPolicyPaths returns the --policy paths of the agent running as
// pid, read from its command line (/proc/PID/cmdline) as run parses it, a
// relative path resolved against the agent's working directory.
func agentPolicyPaths(proc string, pid int) ([]string, error) {
	dir := filepath.Join(proc, strconv.Itoa(pid))
	raw, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return nil, fmt.Errorf("--agent %d: %w", pid, err)
	}
	argv := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	if len(argv) < 2 || argv[1] != "run" {
		return nil, fmt.Errorf("--agent %d: not a tcp-advisor agent (its command line is %q)", pid, strings.Join(argv, " "))
	}
	fs, o := agentFlags()
	if err := fs.Parse(argv[2:]); err != nil {
		return nil, fmt.Errorf("--agent %d: its command line does not parse: %w", pid, err)
	}
	cwd, err := os.Readlink(filepath.Join(dir, "cwd"))
	if err != nil {
		return nil, fmt.Errorf("--agent %d: its working directory: %w", pid, err)
	}
	var out []string
	for _, p := range *o.policyPaths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		out = append(out, p)
	}
	return out, nil
}
