package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcp-advisor/tcp-advisor/advisor/observe"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate/agent"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// newLogger logs to journald when its socket is there, else to stderr.
func newLogger(stderr io.Writer) *systemd.Logger { return systemd.NewLogger(stderr) }

func runAgent(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	paths := policyFlag(fs)
	mode := fs.String("mode", "", "dry-run or enforce (default: the policy's mode)")
	interval := fs.Duration("interval", 0, "tick interval (default: the policy's interval)")
	detail := fs.Duration("detail-interval", time.Minute, "how often a tick also dumps CLOSE_WAIT, FIN_WAIT2 and LISTEN sockets; a CLOSE_WAIT socket counts as stuck after three such dumps")
	stateDir := stateDirFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mode != "" && *mode != policies.ModeDryRun && *mode != policies.ModeEnforce {
		return fmt.Errorf("--mode %q: want dry-run or enforce", *mode)
	}
	if *interval != 0 && *interval < time.Second {
		return fmt.Errorf("--interval %s: want 1s or more", *interval)
	}
	if *detail < time.Second {
		return fmt.Errorf("--detail-interval %s: want 1s or more", *detail)
	}
	session, err := agent.OpenSession(sysRoot, *stateDir, nil, "", nil)
	if err != nil {
		return err
	}
	cfg := agent.Config{PolicyPaths: *paths, Mode: *mode, Interval: *interval, DetailEvery: *detail, Watchdog: systemd.WatchdogInterval()}
	a, err := agent.New(cfg, observe.New(procRoot, sysRoot), session.Applier, newLogger(stderr), systemd.NewNotifier())
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	return a.Run(ctx, reload)
}

func runApply(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("apply", stderr)
	paths := policyFlag(fs)
	yes := fs.Bool("yes", false, "apply without asking")
	stateDir := stateDirFlag(fs)
	samples, interval := sampleFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkSamples(*samples); err != nil {
		return err
	}
	set, err := loadPolicies(*paths, stderr)
	if err != nil {
		return err
	}
	session, err := agent.OpenSession(sysRoot, *stateDir, set, "", newLogger(stderr))
	if err != nil {
		return err
	}
	if _, err := session.DetectOutsideChanges(); err != nil {
		return err
	}
	plan, err := planOnce(set, session.State, *samples, *interval, stderr)
	if werr := plan.WriteText(stdout); werr != nil {
		return werr
	}
	if err != nil || len(plan.Changes) == 0 {
		return err
	}
	if !*yes && !confirm(stdout) {
		return fmt.Errorf("nothing applied: pass --yes, or answer y on a terminal")
	}
	applied, failed := session.Apply(plan)
	for _, c := range applied {
		fmt.Fprintf(stdout, "applied %s = %q (was %q)\n", c.Key, c.To, c.From)
	}
	for _, f := range failed {
		fmt.Fprintf(stderr, "tcp-advisor apply: %v\n", f.Err)
	}
	if len(failed) > 0 {
		return exitError{code: 1}
	}
	return nil
}

// confirm asks on the terminal; without one it answers no.
func confirm(stdout io.Writer) bool {
	if _, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS); err != nil {
		return false
	}
	fmt.Fprint(stdout, "\nApply these changes? [y/N] ")
	answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(answer))
	return a == "y" || a == "yes"
}

func runRollback(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rollback", stderr)
	var keys pathList
	fs.Var(&keys, "key", "sysctl to restore (repeatable; default: every managed key)")
	stateDir := stateDirFlag(fs)
	persist := fs.String("persist-path", "", "sysctl.d drop-in to rewrite (default: the one the state names, if any)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	session, err := agent.OpenSession(sysRoot, *stateDir, nil, *persist, newLogger(stderr))
	if err != nil {
		return err
	}
	if _, err := session.DetectOutsideChanges(); err != nil {
		return err
	}
	rolled, err := session.Rollback(keys...)
	for _, r := range rolled {
		fmt.Fprintf(stdout, "restored %s = %q (was %q)\n", r.Key, r.To, r.From)
	}
	if len(rolled) == 0 && err == nil {
		fmt.Fprintln(stdout, "Nothing to roll back.")
	}
	return err
}

func runStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	stateDir := stateDirFlag(fs)
	format := formatFlag(fs)
	history := fs.Int("history", 10, "how many of the last changes to show")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	session, err := agent.OpenSession(sysRoot, *stateDir, nil, "", nil)
	if err != nil {
		return err
	}
	report := session.Status(*history)
	if *format == "json" {
		return report.WriteJSON(stdout)
	}
	return report.WriteText(stdout)
}
