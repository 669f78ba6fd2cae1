package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/cmd/internal/report"
	"github.com/tcp-advisor/tcp-advisor/policies/judge"
	"github.com/tcp-advisor/tcp-advisor/remediate/agent"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

func runApply(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("apply")
	policyPaths := policyFlag(fs)
	yes := fs.Bool("yes", false, "apply without asking")
	stateDir := stateDirFlag(fs)
	samples, interval, samplesOK := sampleFlags(fs, 2)
	if err := parseFlags(fs, args, samplesOK); err != nil {
		return err
	}
	defer kernelEvents()()
	set, err := loadPolicies(*policyPaths, stderr)
	if err != nil {
		return err
	}
	session, err := agent.OpenSession(paths, *stateDir, set, "", systemd.JournalSink{Log: systemd.NewLogger(stderr)})
	if err != nil {
		return err
	}
	if session.Problem() != nil {
		return fmt.Errorf("%w; nothing applied: a change that cannot be recorded first cannot be rolled back (`tcp-advisor status` explains, `tcp-advisor rollback` salvages)", session.Problem())
	}
	if session.PersistNote != "" {
		fmt.Fprintf(stderr, "tcp-advisor apply: %s\n", session.PersistNote)
	}
	if _, err := session.ReleaseChangedKeys(); err != nil {
		return err
	}
	j, err := judge.Judge(paths.Observer(), set, *samples, *interval, progress(stderr, *samples, *interval))
	if err != nil {
		return err
	}
	evalErr := ruleFailures(j, stderr)
	plan := agent.Plan(j, set, session.State)
	if werr := report.WritePlanText(stdout, plan, textOptions(stdout)); werr != nil {
		return werr
	}
	if evalErr != nil || len(plan.Changes) == 0 {
		return evalErr
	}
	if !*yes && !confirm(stdout, "Apply these changes?") {
		return fmt.Errorf("nothing applied: pass --yes, or answer y on a terminal")
	}
	applied, failed := session.Apply(plan)
	report.WriteApplied(stdout, applied)
	for _, f := range failed {
		fmt.Fprintf(stderr, "tcp-advisor apply: %v\n", f.Err)
	}
	if len(failed) > 0 {
		return exitError{code: 1}
	}
	return nil
}

// confirm asks question on the terminal; without one it answers no.
func confirm(stdout io.Writer, question string) bool {
	if !isTerminal(os.Stdin) {
		return false
	}
	report.WriteQuestion(stdout, question)
	answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "y" || a == "yes"
}
