package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/remediate/orchestrate"
)

func runRollback(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rollback", stderr)
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
		fmt.Fprintln(stdout, noStateMessage(*stateDir)+" Nothing to roll back.")
		return nil
	}
	session, err := orchestrate.OpenSession(paths, *stateDir, nil, *persist, newLogger(stderr))
	if err != nil {
		return err
	}
	released, err := session.ReleaseChangedKeys()
	if err != nil {
		return err
	}
	for _, r := range released {
		fmt.Fprintf(stdout, "released %s: changed outside tcp-advisor to %q (tcp-advisor wrote %q)\n", r.Key, r.Found, r.Expected)
	}
	st := session.State
	targets := []string(keys)
	if len(targets) == 0 {
		for _, k := range st.Keys() {
			if _, ok := st.Active(k); ok {
				targets = append(targets, k)
			}
		}
	}
	for _, k := range targets {
		if _, ok := st.Managed[k]; !ok {
			return fmt.Errorf("%s: not managed by tcp-advisor (the state in %s holds %s)", k, *stateDir, orNone(st.Keys()))
		}
	}
	// The released keys left alone: someone else's value stays.
	var kept []string
	for _, k := range st.Keys() {
		if _, active := st.Active(k); !active && !slices.Contains(targets, k) {
			kept = append(kept, k)
		}
	}
	live := func(k string) string {
		v, err := session.Applier.Sysctls.Get(k)
		if err != nil {
			return "unreadable: " + err.Error()
		}
		return v
	}
	if len(targets) == 0 {
		fmt.Fprintln(stdout, "Nothing to roll back.")
	} else {
		fmt.Fprintln(stdout, "Will restore:")
		for _, k := range targets {
			fmt.Fprintf(stdout, "  %s %q -> %q (original)\n", k, live(k), st.Managed[k].Original)
		}
	}
	if len(kept) > 0 {
		fmt.Fprintln(stdout, "Not restored (released: someone else changed them after tcp-advisor did, and their values stay):")
		for _, k := range kept {
			fmt.Fprintf(stdout, "  %s is %q, original %q; tcp-advisor rollback --key %s restores it\n", k, live(k), st.Managed[k].Original, k)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	if !*yes && !confirm(stdout, "Restore these original values?") {
		return fmt.Errorf("nothing rolled back: pass --yes, or answer y on a terminal")
	}
	rolled, err := session.Rollback(keys...)
	for _, r := range rolled {
		fmt.Fprintf(stdout, "restored %s = %q (was %q)\n", r.Key, r.To, r.From)
	}
	return err
}

// orNone joins names, or says "none".
func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
