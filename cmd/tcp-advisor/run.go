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
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/remediate/agent"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// newApplier wires the sysctl writer and the state store.
func newApplier(stateDir string) (*remediate.Applier, error) {
	sys, err := remediate.NewSysctls(sysRoot)
	if err != nil {
		return nil, err
	}
	return &remediate.Applier{Sysctls: sys, Store: remediate.NewStore(stateDir), Now: time.Now}, nil
}

// openState wires the applier and loads the state it keeps.
func openState(stateDir string) (*remediate.Applier, *remediate.State, error) {
	applier, err := newApplier(stateDir)
	if err != nil {
		return nil, nil, err
	}
	st, err := applier.Store.Load()
	return applier, st, err
}

func runAgent(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	var paths pathList
	fs.Var(&paths, "policy", "policy file or directory (repeatable; default: the embedded policies)")
	mode := fs.String("mode", "", "dry-run or enforce (default: the policy's mode)")
	interval := fs.Duration("interval", 0, "tick interval (default: the policy's interval)")
	stateDir := fs.String("state-dir", defaultStateDir, "directory for originals and change history")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mode != "" && *mode != policies.ModeDryRun && *mode != policies.ModeEnforce {
		return fmt.Errorf("--mode %q: want dry-run or enforce", *mode)
	}
	applier, err := newApplier(*stateDir)
	if err != nil {
		return err
	}
	cfg := agent.Config{PolicyPaths: paths, Mode: *mode, Interval: *interval, Watchdog: systemd.WatchdogInterval()}
	a, err := agent.New(cfg, observe.New(procRoot, sysRoot), applier, systemd.NewLogger(stderr), systemd.NewNotifier())
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
	var paths pathList
	fs.Var(&paths, "policy", "policy file or directory (repeatable; default: the embedded policies)")
	yes := fs.Bool("yes", false, "apply without asking")
	stateDir := fs.String("state-dir", defaultStateDir, "directory for originals and change history")
	samples := fs.Int("samples", 2, "samples to observe (two or more give rates)")
	interval := fs.Duration("interval", time.Second, "time between samples")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set, err := loadPolicies(paths, stderr)
	if err != nil {
		return err
	}
	applier, st, err := openState(*stateDir)
	if err != nil {
		return err
	}
	released, err := applier.DetectOutsideChanges(st)
	if err != nil {
		return err
	}
	for _, r := range released {
		fmt.Fprintf(stderr, "%s was changed outside tcp-advisor to %q; no longer managed\n", r.Key, r.Found)
	}
	plan, err := planOnce(set, st, *samples, *interval, stderr)
	if err != nil {
		return err
	}
	if err := plan.WriteText(stdout); err != nil {
		return err
	}
	if len(plan.Changes) == 0 {
		return nil
	}
	if !*yes {
		if !isTerminal(os.Stdin) {
			return fmt.Errorf("not a terminal: pass --yes to apply without asking")
		}
		fmt.Fprint(stdout, "\nApply these changes? [y/N] ")
		answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(stdout, "Nothing applied.")
			return nil
		}
	}
	if set.Settings.Persist {
		applier.Persist = remediate.Persister{Path: set.Settings.PersistPath}
	}
	applied, failed := applier.Apply(st, plan)
	for _, c := range applied {
		fmt.Fprintf(stdout, "applied %s = %q (was %q)\n", c.Key, c.To, c.From)
	}
	for _, f := range failed {
		fmt.Fprintf(stderr, "not applied: %v\n", f.Err)
	}
	if len(failed) > 0 {
		return exitError{code: 1}
	}
	return nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func runRollback(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rollback", stderr)
	var keys pathList
	fs.Var(&keys, "key", "sysctl to restore (repeatable; default: every managed key)")
	stateDir := fs.String("state-dir", defaultStateDir, "directory for originals and change history")
	persist := fs.String("persist-path", "", "sysctl.d drop-in to rewrite (default: the one named in the state, if any)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	applier, st, err := openState(*stateDir)
	if err != nil {
		return err
	}
	applier.Persist = remediate.Persister{Path: *persist}
	if *persist == "" {
		applier.Persist = remediate.Persister{Path: st.PersistPath}
	}
	rolled, err := applier.Rollback(st, keys...)
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
	stateDir := fs.String("state-dir", defaultStateDir, "directory for originals and change history")
	format := formatFlag(fs)
	history := fs.Int("history", 10, "how many of the last changes to show")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	applier, st, err := openState(*stateDir)
	if err != nil {
		return err
	}
	report := remediate.NewStatus(st, applier.Sysctls, *history)
	if *format == "json" {
		return report.WriteJSON(stdout)
	}
	return report.WriteText(stdout)
}
