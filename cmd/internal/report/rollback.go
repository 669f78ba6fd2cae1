package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/remediate"
)

// RollbackKey is a key a rollback restores or leaves alone: its live
// value, its original, and Where it is ("" in this namespace, else " in
// network namespace NAME").
type RollbackKey struct {
	Key, Live, Original, Where string
}

// WriteRollbackPlan writes what a rollback will restore, and the released
// keys it leaves alone with how to restore them anyway.
func WriteRollbackPlan(w io.Writer, restore, kept []RollbackKey) {
	if len(restore) == 0 {
		fmt.Fprintln(w, "Nothing to roll back.")
	} else {
		lines := make([]string, len(restore))
		for i, k := range restore {
			lines[i] = fmt.Sprintf("  %s %q -> %q (original)%s", k.Key, k.Live, k.Original, k.Where)
		}
		fmt.Fprintln(w, "Will restore:\n"+strings.Join(lines, "\n"))
	}
	if len(kept) > 0 {
		lines := make([]string, len(kept))
		for i, k := range kept {
			lines[i] = fmt.Sprintf("  %s is %q, original %q%s; tcp-advisor rollback --key %s restores it", k.Key, k.Live, k.Original, k.Where, k.Key)
		}
		fmt.Fprintln(w, "Not restored (released: someone else changed them after tcp-advisor did, and their values stay):\n"+strings.Join(lines, "\n"))
	}
}

// WriteRestored writes a key a rollback restored, where it is.
func WriteRestored(w io.Writer, r remediate.Rollback, where string) {
	fmt.Fprintf(w, "restored %s = %q (was %q)%s\n", r.Key, r.To, r.From, where)
}

// WriteReleased writes a key released because someone else changed it.
func WriteReleased(w io.Writer, r remediate.Released, where string) {
	fmt.Fprintf(w, "released %s: changed outside tcp-advisor to %q (tcp-advisor wrote %q)%s\n", r.Key, r.Found, r.Expected, where)
}

// WriteGoneNamespace writes that a namespace whose state records changed
// sysctls is gone, and its changes with it.
func WriteGoneNamespace(w io.Writer, name string, changed int) {
	fmt.Fprintf(w, "network namespace %s is gone: its %d changed sysctl(s) went with it; nothing to restore there\n", name, changed)
}

// WriteSalvaged writes that an unreadable state file (label names its
// namespace, or is "") was moved aside and how many originals are still
// restored.
func WriteSalvaged(w io.Writer, label string, problem error, aside string, originals int) {
	fmt.Fprintf(w, "%s%v\nmoved the unreadable state file aside to %s; restoring the %d original(s) still readable\n", label, problem, aside, originals)
}
