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

// WriteOriginals writes, in sysctl.conf form, the original value of each
// key tcp-advisor still manages, as its state in stateDir records them:
// `sysctl -p` on the output restores them without tcp-advisor, as a
// rollback would, reserved ports last. Nothing when it manages none.
func WriteOriginals(w io.Writer, s remediate.Status, stateDir string) error {
	originals := s.Originals()
	if len(originals) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# The original values of the sysctls tcp-advisor changed, as its state in %s\n", stateDir)
	b.WriteString("# records them. Restore them with: sysctl -p THIS-FILE (or tcp-advisor rollback).\n")
	for _, o := range originals {
		// sysctl.conf takes a value on one line, words separated by a
		// space (a port range reads back with a tab).
		fmt.Fprintf(&b, "%s = %s\n", o.Key, strings.Join(strings.Fields(o.Value), " "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Line says the same as ev for a person: "kernel events: available", or
// "kernel events unavailable: REASON". The agent's STATUS line says the
// same for the agent.
func (ev KernelEvents) Line() string {
	if !ev.Available {
		return ev.Unavailable
	}
	return "kernel events: available (connection events from the sock:inet_sock_set_state tracepoint)"
}

// NoState is what status and rollback say about a state directory dir
// that holds no state: tcp-advisor has changed nothing there.
func NoState(dir string) string {
	return "No state in " + dir + ": tcp-advisor has changed nothing here."
}

// WriteNoStateText writes the status of version where dir holds no state.
func WriteNoStateText(w io.Writer, version, dir string, ev KernelEvents) error {
	_, err := fmt.Fprintf(w, "tcp-advisor %s\n%s\n%s\n", version, NoState(dir), ev.Line())
	return err
}

// WriteNamespaceStatus writes the status of another network namespace
// (name) whose state an agent keeps; nil s is a namespace that is gone,
// where managed sysctls were managed.
func WriteNamespaceStatus(w io.Writer, name string, s *remediate.Status, managed int) error {
	if s == nil {
		_, err := fmt.Fprintf(w, "\nnetwork namespace %s (gone): %d sysctl(s) were managed there\n", name, managed)
		return err
	}
	fmt.Fprintf(w, "\nnetwork namespace %s:\n", name)
	return WriteStatusText(w, *s)
}
