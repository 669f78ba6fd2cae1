// Package textsafe makes text that other users choose — process names,
// cgroup paths, anything read from /proc — safe to print on a terminal or
// in a log line: control characters (newlines, ANSI escape sequences),
// invisible format characters and invalid UTF-8 are written as Go escapes,
// so one value stays one visible line and cannot rewrite the screen.
//
// Text output uses it; JSON keeps the raw value (encoding/json writes valid
// UTF-8 and escapes control characters itself), and so do journal fields,
// which journald stores binary-safe.
package textsafe

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Escape returns s with every byte or rune that is not printable written
// as a Go escape: "\n", "\x1b", "\u202e", and "\xff" for a byte that is
// not UTF-8. Printable text, spaces and backslashes are kept, so Escape
// leaves already-escaped text (such as %q output) unchanged.
func Escape(s string) string {
	if isSafe(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		case strconv.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// isSafe reports whether s is valid UTF-8 and printable throughout.
func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !strconv.IsPrint(r) })
		}
	}
	return true
}
