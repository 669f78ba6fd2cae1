package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/tcp-advisor/tcp-advisor/remediate/orchestrate"
)

// rollbackNamespaces restores the originals an agent watching every
// namespace recorded in other network namespaces: in each that still
// exists; each that is gone is named, with what it can no longer restore.
func rollbackNamespaces(stateDir string, keys []string, stdout, stderr io.Writer) (int, error) {
	states, err := orchestrate.NamespaceStates(paths, stateDir, newLogger(stderr))
	restored := 0
	errs := []error{err}
	for _, ns := range states {
		if ns.Session == nil {
			if n := len(ns.State.Managed); n > 0 {
				fmt.Fprintf(stdout, "network namespace %s is gone: its %d changed sysctl(s) went with it; nothing to restore there\n", ns.Name(), n)
			}
			continue
		}
		if _, err := ns.Session.ReleaseChangedKeys(); err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: %w", ns.Name(), err))
			continue
		}
		rolled, err := ns.Session.Rollback(keys...)
		for _, r := range rolled {
			fmt.Fprintf(stdout, "restored %s = %q (was %q) in network namespace %s\n", r.Key, r.To, r.From, ns.Name())
		}
		restored += len(rolled)
		if err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: %w", ns.Name(), err))
		}
	}
	return restored, errors.Join(errs...)
}

// statusNamespaces writes what is managed in other network namespaces.
func statusNamespaces(stateDir string, history int, stdout, stderr io.Writer) error {
	states, err := orchestrate.NamespaceStates(paths, stateDir, nil)
	for _, ns := range states {
		if ns.Session == nil {
			fmt.Fprintf(stdout, "\nnetwork namespace %s (gone): %d sysctl(s) were managed there\n", ns.Name(), len(ns.State.Managed))
			continue
		}
		fmt.Fprintf(stdout, "\nnetwork namespace %s:\n", ns.Name())
		if werr := ns.Session.Status(history).WriteText(stdout); werr != nil {
			return werr
		}
	}
	return err
}
