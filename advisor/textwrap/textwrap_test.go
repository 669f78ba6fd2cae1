package textwrap

import "testing"

func TestFill(t *testing.T) {
	tests := []struct {
		name          string
		text          string
		width         int
		first, indent string
		want          string
	}{
		{"fits", "one two three", 20, "", "", "one two three"},
		{"breaks between words", "one two three", 8, "", "", "one two\nthree"},
		{"first and later lines", "one two three four", 10, "  ", "    ", "  one two\n    three\n    four"},
		{"a line may end at the width", "abcd efgh", 9, "", "", "abcd efgh"},
		{"white space runs are one space", "one  \t two\nthree", 40, "", "", "one two three"},
		{"a long word stands alone", "a verylongword b", 5, "", "  ", "a\n  verylongword\n  b"},
		{"runes, not bytes", "→→→ ééé", 7, "", "", "→→→ ééé"},
		{"width 0 does not break", "one two three", 0, "  ", "", "  one two three"},
		{"empty text keeps first", "", 10, "  ", "", "  "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fill(tt.text, tt.width, tt.first, tt.indent); got != tt.want {
				t.Errorf("Fill(%q, %d, %q, %q) = %q, want %q", tt.text, tt.width, tt.first, tt.indent, got, tt.want)
			}
		})
	}
}
