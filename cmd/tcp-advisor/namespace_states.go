package main

import (
	"io"

	"github.com/tcp-advisor/tcp-advisor/cmd/internal/report"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/remediate/agent"
)

// statusNamespaces writes what is managed in other network namespaces.
func statusNamespaces(stateDir string, history int, stdout, stderr io.Writer) error {
	states, err := agent.NamespaceStates(paths, stateDir, nil)
	for _, ns := range states {
		var st *remediate.Status
		if ns.Session != nil {
			s := ns.Session.Status(history)
			st = &s
		}
		if werr := report.WriteNamespaceStatus(stdout, ns.Name(), st, len(ns.State.Managed)); werr != nil {
			return werr
		}
	}
	return err
}
