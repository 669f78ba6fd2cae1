package textsafe

import (
	"strconv"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nginx", "nginx"},
		{"web server", "web server"},
		{"café ünïcode", "café ünïcode"},
		{"evil\nKEY=value", `evil\nKEY=value`},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"a\rb\tc", `a\rb\tc`},
		{"bad\xff\xfeutf8", `bad\xff\xfeutf8`},
		{"rtl\u202eoverride", `rtl\u202eoverride`},
		{"del\x7f", `del\x7f`},
		{"zero\x00byte", `zero\x00byte`},
		{`back\slash`, `back\\slash`},
		{`looks like \n`, `looks like \\n`},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"nginx", "a\nb", "\x1b[2J", "\xff", "\u202e", `a\b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Escape(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Escape(%q) = %q: not UTF-8", s, got)
		}
		for _, r := range got {
			if !strconv.IsPrint(r) {
				t.Fatalf("Escape(%q) = %q holds %U", s, got, r)
			}
		}
		// Unambiguous: the escaped form, quoted, reads back as s where s
		// was UTF-8.
		if utf8.ValidString(s) {
			back, err := strconv.Unquote(`"` + replaceQuotes(got) + `"`)
			if err != nil || back != s {
				t.Fatalf("Escape(%q) = %q reads back as %q (%v)", s, got, back, err)
			}
		}
	})
}

// replaceQuotes escapes double quotes so the escaped text can be unquoted.
func replaceQuotes(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
