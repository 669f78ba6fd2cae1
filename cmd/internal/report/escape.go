package report

import "github.com/tcp-advisor/tcp-advisor/advisor/textsafe"

// Printable returns s safe to print on a terminal (see textsafe.Escape):
// process names and cgroup paths are chosen by other users, so control
// characters (newlines, ANSI escapes) and invalid UTF-8 are written as Go
// escapes ("\n", "\x1b", "\xff") and a backslash as "\\". JSON and the
// journal's fields keep the raw value.
func Printable(s string) string { return textsafe.Escape(s) }
