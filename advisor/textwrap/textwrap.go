// Package textwrap fills text to a width, breaking lines at spaces, for
// tcp-advisor's text output and its --help.
package textwrap

import (
	"strings"
	"unicode/utf8"
)

// Fill breaks text into lines of at most width columns (counted in runes)
// between words: the first line starts with first, every later one with
// indent (both spaces, which a word follows directly), and the words of a
// line are joined by one space. Any run of white
// space in text, line breaks included, separates words. A word wider than
// the width gets a line of its own; width 0 or less does not break lines.
func Fill(text string, width int, first, indent string) string {
	var lines []string
	line := first
	for _, word := range strings.Fields(text) {
		if width > 0 && strings.TrimSpace(line) != "" && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > width {
			lines = append(lines, line)
			line = indent
		}
		if strings.TrimSpace(line) != "" {
			line += " "
		}
		line += word
	}
	return strings.Join(append(lines, line), "\n")
}
