package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// KernelEvents says whether the kernel gives this process its connection
// events, in the words of diagnose's JSON "events": Unavailable is "kernel
// events unavailable: REASON" where it refuses them.
type KernelEvents struct {
	Available   bool   `json:"available"`
	Unavailable string `json:"unavailable,omitempty"`
}

// WriteStatusJSON writes the status and whether the kernel's connection
// events are available as indented JSON.
func WriteStatusJSON(w io.Writer, s remediate.Status, ev KernelEvents) error {
	return writeJSON(w, struct {
		remediate.Status
		Events KernelEvents `json:"events"`
	}{s, ev})
}

// WriteStatusText writes the status for a person.
func WriteStatusText(w io.Writer, s remediate.Status) error {
	var b strings.Builder
	if s.Version != "" {
		fmt.Fprintf(&b, "tcp-advisor %s\n", s.Version)
	}
	switch {
	case s.StateNewer:
		fmt.Fprintf(&b, "STATE FILE PROBLEM: %s\n", Printable(s.StateProblem))
		b.WriteString("  This tcp-advisor reads nothing from it, and rollback leaves it and every sysctl alone.\n")
		_, err := io.WriteString(w, b.String())
		return err
	case s.StateProblem != "":
		fmt.Fprintf(&b, "STATE FILE PROBLEM: %s\n", Printable(s.StateProblem))
		b.WriteString("  The keys below are what could still be read. `tcp-advisor rollback` restores their\n")
		b.WriteString("  originals and moves a corrupt file aside before writing a new one.\n\n")
	}
	if len(s.Managed) == 0 {
		b.WriteString("tcp-advisor manages no sysctl.\n")
	} else {
		b.WriteString("Managed sysctls:\n")
		for _, k := range s.Managed {
			fmt.Fprintf(&b, "  %s\n      original %q, last written %q at %s, live %q\n", k.Key, k.Original, k.LastWritten, k.LastChange.Format(time.RFC3339), k.Live)
			if k.Released {
				fmt.Fprintf(&b, "      released: %s\n", Printable(k.Why))
			}
		}
	}
	for _, r := range s.RolledBack {
		fmt.Fprintf(&b, "Rolled back %s at %s to %q, no longer managed:\n      %s\n", r.Key, r.Time.Format(time.RFC3339), r.To, r.Next)
	}
	if s.PersistPath != "" {
		fmt.Fprintf(&b, "Persisted in %s\n", s.PersistPath)
	}
	if len(s.LastChanges) > 0 {
		b.WriteString("Last changes (newest first):\n")
		for _, r := range s.LastChanges {
			fmt.Fprintf(&b, "  %s %-8s %s %q -> %q", r.Time.Format(time.RFC3339), r.Action, r.Key, r.From, r.To)
			if r.Rule != "" {
				fmt.Fprintf(&b, " (rule %s)", Printable(r.Rule))
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
