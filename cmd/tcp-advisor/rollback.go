package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/tcp-advisor/tcp-advisor/remediate/orchestrate"
)

func runRollback(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rollback", stderr)
	var keys pathList
	fs.Var(&keys, "key", "sysctl to restore (repeatable; default: every managed key)")
	stateDir := stateDirFlag(fs)
	persist := fs.String("persist-path", "", "sysctl.d drop-in to rewrite (default: the one the state names, if any)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	session, err := orchestrate.OpenSession(paths, *stateDir, nil, *persist, newLogger(stderr))
	if err != nil {
		return err
	}
	if session.Problem != nil {
		fmt.Fprintf(stderr, "tcp-advisor rollback: %v\n", session.Problem)
		aside, err := session.Salvage()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "moved the unreadable state file aside to %s; restoring the %d original(s) still readable\n", aside, len(session.State.Managed))
	}
	if _, err := session.ReleaseChangedKeys(); err != nil {
		return err
	}
	rolled, err := session.Rollback(keys...)
	for _, r := range rolled {
		fmt.Fprintf(stdout, "restored %s = %q (was %q)\n", r.Key, r.To, r.From)
	}
	others, nerr := rollbackNamespaces(*stateDir, keys, stdout, stderr)
	if len(rolled)+others == 0 && err == nil && nerr == nil {
		fmt.Fprintln(stdout, "Nothing to roll back.")
	}
	return errors.Join(err, nerr)
}
