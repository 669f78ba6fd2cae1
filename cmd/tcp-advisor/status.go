package main

import (
	"fmt"
	"io"

	"github.com/tcp-advisor/tcp-advisor/cmd/internal/report"
	"github.com/tcp-advisor/tcp-advisor/remediate"
	"github.com/tcp-advisor/tcp-advisor/remediate/agent"
)

func runStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status")
	stateDir := stateDirFlag(fs)
	format, formatOK := formatFlag(fs)
	history := fs.Int("history", 10, "how many of the last changes to show")
	originals := fs.Bool("originals", false, "print only the original value of each sysctl tcp-advisor still manages here, in sysctl.conf form: `sysctl -p FILE` restores them without tcp-advisor")
	if err := parseFlags(fs, args, formatOK); err != nil {
		return err
	}
	if *history < 0 {
		return usagef("--history %d: want 0 or more", *history)
	}
	none, err := noState(*stateDir)
	if err != nil {
		return err
	}
	version, _ := versionInfo()
	if none {
		if *originals {
			return nil
		}
		empty := remediate.Status{Version: version, Managed: []remediate.KeyStatus{}, LastChanges: []remediate.Record{}}
		if *format == "json" {
			return report.WriteStatusJSON(stdout, empty, kernelEventsStatus())
		}
		return report.WriteNoStateText(stdout, version, *stateDir, kernelEventsStatus())
	}
	session, err := agent.OpenSession(paths, *stateDir, nil, "", nil)
	if err != nil {
		return err
	}
	status := session.Status(*history)
	status.Version = version
	if *originals {
		if err := report.WriteOriginals(stdout, status, *stateDir); err != nil {
			return err
		}
		if session.Problem() != nil {
			fmt.Fprintf(stderr, "tcp-advisor status: %v\n", session.Problem())
			return exitError{code: 1}
		}
		return nil
	}
	if *format == "json" {
		err = report.WriteStatusJSON(stdout, status, kernelEventsStatus())
	} else if err = report.WriteStatusText(stdout, status); err == nil {
		if err = statusNamespaces(*stateDir, *history, stdout, stderr); err == nil {
			_, err = fmt.Fprintln(stdout, kernelEventsStatus().Line())
		}
	}
	if err == nil && session.Problem() != nil {
		// The report lists what could be salvaged; stderr and the exit
		// code tell scripts.
		fmt.Fprintf(stderr, "tcp-advisor status: %v\n", session.Problem())
		return exitError{code: 1}
	}
	return err
}
