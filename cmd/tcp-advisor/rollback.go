package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/cmd/internal/report"
	"github.com/tcp-advisor/tcp-advisor/remediate/agent"
	"github.com/tcp-advisor/tcp-advisor/systemd"
)

// rollbackScope is one state rollback works on: the one of the namespace
// it runs in, or one an agent watching every namespace kept for another.
type rollbackScope struct {
	session *agent.Session
	where   string   // "" here, else " in network namespace NAME"
	label   string   // "" here, else "network namespace NAME: "
	targets []string // the keys to restore
	kept    []string // released keys left alone
}

func runRollback(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rollback")
	var keys pathList
	fs.Var(&keys, "key", "sysctl to restore, even one released after someone else changed it (repeatable; default: every key tcp-advisor still manages)")
	yes := fs.Bool("yes", false, "restore without asking")
	stateDir := stateDirFlag(fs)
	persist := fs.String("persist-path", "", "sysctl.d drop-in to rewrite (default: the one the state names, if any)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	none, err := noState(*stateDir)
	if err != nil {
		return err
	}
	if none {
		if len(keys) > 0 {
			return fmt.Errorf("no state in %s: tcp-advisor has changed nothing here and holds no original of %s", *stateDir, strings.Join(keys, ", "))
		}
		fmt.Fprintln(stdout, report.NoState(*stateDir)+" Nothing to roll back.")
		return nil
	}

	// The scopes: this namespace, then those an agent on the host changed.
	journal := systemd.JournalSink{Log: systemd.NewLogger(stderr)}
	session, err := agent.OpenSession(paths, *stateDir, nil, *persist, journal)
	if err != nil {
		return err
	}
	scopes := []*rollbackScope{{session: session}}
	states, nerr := agent.NamespaceStates(paths, *stateDir, journal)
	for _, ns := range states {
		if ns.Session == nil {
			if n := len(ns.State.Managed); n > 0 {
				report.WriteGoneNamespace(stdout, ns.Name(), n)
			}
			continue
		}
		scopes = append(scopes, &rollbackScope{session: ns.Session, where: " in network namespace " + ns.Name(), label: "network namespace " + ns.Name() + ": "})
	}

	errs := []error{nerr}
	var live []*rollbackScope
	for _, sc := range scopes {
		if err := sc.plan(keys, stdout); err != nil {
			errs = append(errs, err)
			continue
		}
		live = append(live, sc)
	}
	for _, k := range keys {
		if !slices.ContainsFunc(live, func(sc *rollbackScope) bool { return slices.Contains(sc.targets, k) }) {
			errs = append(errs, fmt.Errorf("%s: not managed by tcp-advisor (the state in %s holds %s)", k, *stateDir, orNone(session.State.Keys())))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	var restore, kept []report.RollbackKey
	for _, sc := range live {
		for _, k := range sc.targets {
			restore = append(restore, sc.key(k))
		}
		for _, k := range sc.kept {
			kept = append(kept, sc.key(k))
		}
	}
	report.WriteRollbackPlan(stdout, restore, kept)
	if len(restore) == 0 {
		return nil
	}
	if !*yes && !confirm(stdout, "Restore these original values?") {
		return fmt.Errorf("nothing rolled back: pass --yes, or answer y on a terminal")
	}
	for _, sc := range live {
		if len(sc.targets) == 0 {
			continue // Rollback with no key means every key
		}
		rolled, err := sc.session.Rollback(sc.targets...)
		for _, r := range rolled {
			report.WriteRestored(stdout, r, sc.where)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%w", sc.label, err))
		}
	}
	return errors.Join(errs...)
}

// plan releases the keys someone else changed in the scope (saying so) and
// works out what to restore: the named keys this state manages, else every
// key it still manages; and the released keys it leaves alone.
func (sc *rollbackScope) plan(named []string, stdout io.Writer) error {
	// A state file that could not be read: what was salvaged is restored,
	// and the file is moved aside first, never overwritten.
	if problem := sc.session.Problem(); problem != nil {
		aside, err := sc.session.Salvage()
		if err != nil {
			return fmt.Errorf("%s%w", sc.label, err)
		}
		report.WriteSalvaged(stdout, sc.label, problem, aside, len(sc.session.State.Managed))
	}
	released, err := sc.session.ReleaseChangedKeys()
	if err != nil {
		return fmt.Errorf("%s%w", sc.label, err)
	}
	for _, r := range released {
		report.WriteReleased(stdout, r, sc.where)
	}
	st := sc.session.State
	for _, k := range st.Keys() {
		_, active := st.Active(k)
		switch {
		case len(named) > 0 && slices.Contains(named, k), len(named) == 0 && active:
			sc.targets = append(sc.targets, k)
		case !active:
			sc.kept = append(sc.kept, k)
		}
	}
	return nil
}

// key is a key of the scope as the rollback plan shows it: its live
// value in the scope's namespace and its original.
func (sc *rollbackScope) key(key string) report.RollbackKey {
	v, err := sc.session.Applier.Sysctls.Get(key)
	if err != nil {
		v = "unreadable: " + err.Error()
	}
	return report.RollbackKey{Key: key, Live: v, Original: sc.session.State.Managed[key].Original, Where: sc.where}
}

// orNone joins names, or says "none".
func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
