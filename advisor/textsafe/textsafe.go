// Package textsafe makes text that other users choose — process names,
// cgroup paths, anything read from /proc — safe to print on a terminal or
// in a log line: control characters (newlines, ANSI escape sequences),
// invisible format characters and invalid UTF-8 are written as Go escapes,
// so one value stays one visible line and cannot rewrite the screen.
//
// Every text renderer uses it (diagnose, plan, status, the journal's
// MESSAGE, the sd_notify status line). JSON keeps the raw value
// (encoding/json writes valid UTF-8 and escapes control characters
// itself), and so do journal fields, which journald stores binary-safe.
package textsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s with every byte or rune that is not printable written
// as a Go escape — "\n", "\x1b", "\u202e", and "\xff" for a byte that is
// not UTF-8 — and a backslash as "\\", so that an escape in the output
// always stands for the byte it names, never for text the name held.
func Escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case r == '\\':
			b.WriteString(`\\`)
		case !unicode.IsPrint(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' {
			return !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r == '\\' || !unicode.IsPrint(r) })
		}
	}
	return false
}
