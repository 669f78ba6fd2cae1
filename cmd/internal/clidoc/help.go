package clidoc

import (
	"fmt"
	"io"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/advisor/textwrap"
)

// helpWidth is the width --help fills text to; flagIndent starts the lines
// of a flag's description.
const (
	helpWidth  = 78
	flagIndent = "        "
)

// WriteUsage writes the program's --help: its synopsis and the visible
// commands with their summaries.
func (p Program) WriteUsage(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s COMMAND [flags]\n", p.Name)
	for _, f := range p.Global {
		fmt.Fprintf(&b, "       %s %s\n", p.Name, flagSpelling(f))
	}
	b.WriteString("\nCommands:\n")
	width := 0
	for _, c := range p.Visible() {
		width = max(width, len(c.Name))
	}
	for _, c := range p.Visible() {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, c.Name, c.Summary)
	}
	fmt.Fprintf(&b, "\nRun '%s COMMAND --help' for a command's flags; man %s for the manual.\n", p.Name, p.Name)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteHelp writes a command's --help: its synopsis, summary, details and
// flags.
func (p Program) WriteHelp(w io.Writer, c Command) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s %s\n\n%s\n", p.Name, c.Synopsis(), textwrap.Fill(capitalize(c.Summary)+".", helpWidth, "", ""))
	for _, d := range c.Details {
		fmt.Fprintf(&b, "\n%s\n", textwrap.Fill(d, helpWidth, "", ""))
	}
	if len(c.Flags) > 0 {
		b.WriteString("\nFlags:\n")
		for _, f := range c.Flags {
			fmt.Fprintf(&b, "  %s\n%s\n", flagSpelling(f), textwrap.Fill(flagText(f), helpWidth, flagIndent, flagIndent))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// flagSpelling is "--name ARG", or "--name" for a boolean flag.
func flagSpelling(f Flag) string {
	if f.Arg == "" {
		return "--" + f.Name
	}
	return "--" + f.Name + " " + f.Arg
}

// flagText is the usage with the default and, for a repeatable flag, a
// note that it repeats.
func flagText(f Flag) string {
	s := f.Usage
	// A short list of values is worth reading; a long one is for completion.
	if len(f.Values) > 0 && len(f.Values) <= 5 && !strings.Contains(s, f.Values[0]) {
		s += " (one of " + strings.Join(f.Values, ", ") + ")"
	}
	if f.Repeatable && !strings.Contains(s, "repeatable") {
		s += " (repeatable)"
	}
	if f.Default != "" {
		s += " (default " + f.Default + ")"
	}
	return s
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
