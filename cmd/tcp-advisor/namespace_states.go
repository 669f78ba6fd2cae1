package main

import (
	"fmt"
	"io"

	"github.com/tcp-advisor/tcp-advisor/cmd/internal/report"
	"github.com/tcp-advisor/tcp-advisor/remediate/agent"
)

// statusNamespaces writes what is managed in other network namespaces.
func statusNamespaces(stateDir string, history int, stdout, stderr io.Writer) error {
	states, err := agent.NamespaceStates(paths, stateDir, nil)
	for _, ns := range states {
		if ns.Session == nil {
			fmt.Fprintf(stdout, "\nnetwork namespace %s (gone): %d sysctl(s) were managed there\n", ns.Name(), len(ns.State.Managed))
			continue
		}
		fmt.Fprintf(stdout, "\nnetwork namespace %s:\n", ns.Name())
		if werr := report.WriteStatusText(stdout, ns.Session.Status(history)); werr != nil {
			return werr
		}
	}
	return err
}
