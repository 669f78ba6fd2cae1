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
		{"café", "café"},
		{"evil\nKEY=value", `evil\nKEY=value`},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"a\rb\tc", `a\rb\tc`},
		{"bad\xff\xfeutf8", `bad\xff\xfeutf8`},
		{"rtl\u202eoverride", `rtl\u202eoverride`},
		{"del\x7f", `del\x7f`},
		{`already "escaped\n"`, `already "escaped\n"`},
		{"", ""},
	}
	for _, tt := range tests {
		got := Escape(tt.in)
		if got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if Escape(got) != got {
			t.Errorf("Escape is not idempotent on %q", got)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"nginx", "a\nb", "\x1b[2J", "\xff", "\u202e"} {
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
		if Escape(got) != got {
			t.Fatalf("not idempotent: %q", got)
		}
	})
}
