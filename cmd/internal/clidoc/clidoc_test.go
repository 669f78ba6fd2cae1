package clidoc

import (
	"bytes"
	"flag"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tcp-advisor/tcp-advisor/internal/testbin"
)

type listValue []string

func (l *listValue) String() string     { return strings.Join(*l, ",") }
func (l *listValue) Set(v string) error { *l = append(*l, v); return nil }
func (l *listValue) Repeatable() bool   { return true }

func sampleFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Bool("yes", false, "do it without asking")
	fs.Duration("interval", time.Second, "time between samples")
	fs.Duration("zero", 0, "a duration without default")
	fs.String("format", "text", "output `FMT`: text or json")
	fs.Int("count", 0, "how many")
	var l listValue
	fs.Var(&l, "policy", "policy file or directory")
	return fs
}

func TestFlagsOf(t *testing.T) {
	got := FlagsOf(sampleFlags(), map[string]Hint{"policy": {Arg: "PATH", Complete: CompleteFiles}, "format": {Values: []string{"text", "json"}}})
	want := []Flag{
		{Name: "count", Arg: "INT", Usage: "how many"},
		{Name: "format", Arg: "FMT", Usage: "output FMT: text or json", Default: "text", Values: []string{"text", "json"}},
		{Name: "interval", Arg: "DURATION", Usage: "time between samples", Default: "1s"},
		{Name: "policy", Arg: "PATH", Usage: "policy file or directory", Repeatable: true, Complete: CompleteFiles},
		{Name: "yes", Usage: "do it without asking"},
		{Name: "zero", Arg: "DURATION", Usage: "a duration without default"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d flags, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Arg != w.Arg || g.Usage != w.Usage || g.Default != w.Default ||
			g.Repeatable != w.Repeatable || g.Complete != w.Complete || strings.Join(g.Values, ",") != strings.Join(w.Values, ",") {
			t.Errorf("flag %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestEscape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"--policy PATH", `\-\-policy PATH`},
		{"see -h or --help", `see \-h or \-\-help`},
		{"dry-run and tcp-advisor", "dry-run and tcp-advisor"},
		{".starts with a dot", `\&.starts with a dot`},
		{"'starts with a quote", `\&'starts with a quote`},
		{`a \ backslash`, `a \e backslash`},
		{"(--yes)", `(\-\-yes)`},
	} {
		if got := escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFirstClause(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"time between samples", "time between samples"},
		{"how often; and more", "how often"},
		{"policy file (repeatable; default: x)", "policy file"},
	} {
		if got := firstClause(tt.in); got != tt.want {
			t.Errorf("firstClause(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func sampleProgram() Program {
	return Program{
		Name: "demo", Section: "8", Summary: "a demo", Version: "1.0", Manual: "System Administration",
		Description: []string{"Demo does things.", ".A line starting with a dot"},
		Global:      []Flag{{Name: "version", Usage: "print the version"}},
		Commands: []Command{
			{Name: "go", Summary: "go somewhere", Details: []string{"Really."}, Flags: FlagsOf(sampleFlags(), nil)},
			{Name: "check", Summary: "check files", Operands: "PATH...", OperandFiles: true},
			{Name: "secret", Summary: "hidden", Hidden: true},
		},
		Sections: []Section{{Title: "Exit status", Items: []Item{{Tag: "0", Text: "ok"}, {Text: "Plain."}}}},
	}
}

// TestManRendersWithoutWarnings renders the man page with groff, all
// warnings on, and checks the text names what the program has.
func TestManRendersWithoutWarnings(t *testing.T) {
	groff := testbin.Tool(t, "groff", "groff-base")
	var page bytes.Buffer
	if err := sampleProgram().WriteMan(&page); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(groff, "-man", "-Tascii", "-ww", "-P-c", "-P-b", "-P-u")
	cmd.Stdin = bytes.NewReader(page.Bytes())
	var out, warn bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &warn
	if err := cmd.Run(); err != nil || warn.Len() > 0 {
		t.Fatalf("groff: %v\n%s\n%s", err, warn.String(), page.String())
	}
	text := out.String()
	for _, want := range []string{"demo - a demo", "demo go [flags]", "demo check PATH...", "--interval DURATION", "--policy VALUE", "--yes", "(repeatable)", "(default 1s)", ".A line starting with a dot", "EXIT STATUS", "--version"} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered page lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "secret") {
		t.Errorf("rendered page shows a hidden command:\n%s", text)
	}
}

func TestHelp(t *testing.T) {
	p := sampleProgram()
	var b bytes.Buffer
	if err := p.WriteHelp(&b, p.Commands[0]); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Usage: demo go [flags]\n", "Go somewhere.\n", "\nReally.\n", "  --interval DURATION\n        time between samples (default 1s)\n", "  --yes\n", "policy file or directory (repeatable)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := p.WriteUsage(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "  go     go somewhere\n") || strings.Contains(b.String(), "secret") {
		t.Errorf("usage:\n%s", b.String())
	}
}

// TestBashSyntax checks the generated script parses, and completes.
func TestBashSyntax(t *testing.T) {
	bash := testbin.Tool(t, "bash", "bash")
	var script bytes.Buffer
	if err := sampleProgram().WriteBash(&script); err != nil {
		t.Fatal(err)
	}
	prog := script.String() + `
COMP_WORDS=(demo go --i); COMP_CWORD=2; _demo; echo "${COMPREPLY[*]}"
COMP_WORDS=(demo ""); COMP_CWORD=1; _demo; echo "${COMPREPLY[*]}"
`
	out, err := exec.Command(bash, "--norc", "-c", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	if want := "--interval\ngo check --version\n"; string(out) != want {
		t.Errorf("completions:\n%s\nwant:\n%s", out, want)
	}
}
