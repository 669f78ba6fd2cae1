// Package clidoc renders one description of a command-line program — its
// commands, each command's flags and operands — as --help text, a roff man
// page and bash and zsh completion scripts, so that the four never disagree.
//
// A program builds its Program from the flag sets its commands parse, with
// FlagsOf, and hands it to the writers.
package clidoc

import (
	"flag"
	"slices"
	"strings"
)

// Program describes a program with subcommands.
type Program struct {
	Name    string // the executable's name, e.g. "tcp-advisor"
	Section string // the manual section, e.g. "8"
	Summary string // one line, for the man page's NAME
	Version string // shown in the man page's footer
	Date    string // YYYY-MM-DD for the man page's footer, or ""
	Manual  string // the manual's title, e.g. "System Administration"
	// Description is the man page's DESCRIPTION, paragraph by paragraph.
	Description []string
	// Commands in the order help lists them; hidden ones are left out of
	// help, the man page and completion.
	Commands []Command
	// Global are the flags the program itself takes before any command,
	// such as --help and --version.
	Global []Flag
	// Sections follow COMMANDS in the man page: EXIT STATUS, FILES, ...
	Sections []Section
}

// Visible returns the commands that are not hidden.
func (p Program) Visible() []Command {
	var out []Command
	for _, c := range p.Commands {
		if !c.Hidden {
			out = append(out, c)
		}
	}
	return out
}

// Command is one subcommand.
type Command struct {
	Name    string
	Summary string // one line
	// Details are paragraphs shown by --help and the man page after the
	// summary.
	Details []string
	// Operands is the synopsis of the positional arguments, such as
	// "PATH..."; empty when the command takes none.
	Operands string
	// OperandValues are the values an operand takes, for completion; with
	// none, OperandFiles completes file names.
	OperandValues []string
	OperandFiles  bool
	Flags         []Flag
	Hidden        bool
}

// Synopsis is the command's usage line without the program's name.
func (c Command) Synopsis() string {
	plain := func(s string) string { return s }
	return c.synopsis(plain, plain)
}

// synopsis is the usage line with the command's name and the placeholders
// ("flags", the operands) formatted by name and placeholder.
func (c Command) synopsis(name, placeholder func(string) string) string {
	s := name(c.Name)
	if len(c.Flags) > 0 {
		s += " [" + placeholder("flags") + "]"
	}
	if c.Operands != "" {
		s += " " + placeholder(c.Operands)
	}
	return s
}

// operandCompletion is what the command's operands complete to when they
// have no list of values.
func (c Command) operandCompletion() Completion {
	if c.OperandFiles {
		return CompleteFiles
	}
	return CompleteNothing
}

// Completion says what a flag's value completes to.
type Completion int

// The completions of a flag's value.
const (
	CompleteNothing Completion = iota // free text
	CompleteFiles                     // a file or directory name
	CompleteDirs                      // a directory name
)

// Flag is one flag of a command (always written with two dashes).
type Flag struct {
	Name string
	// Arg names the value, such as "DURATION"; empty for a boolean flag.
	Arg   string
	Usage string
	// Default is the value when the flag is not given, or "" when that is
	// the zero value or needs no mention.
	Default    string
	Repeatable bool
	// Values are the values the flag takes, for completion and the man
	// page; Complete applies when there are none.
	Values   []string
	Complete Completion
	// ValuesFrom is a command line whose output, one value a line, the
	// completion offers, for values only the running host knows.
	ValuesFrom string
}

// Section is a man page section after COMMANDS.
type Section struct {
	Title string
	Items []Item
}

// Item is a paragraph of a section, tagged (a term and its description) or
// plain (empty Tag).
type Item struct {
	Tag  string
	Text string
}

// Repeatable is implemented by flag values that may be given more than
// once, each adding to a list.
type Repeatable interface {
	Repeatable() bool
}

// Hint adds what a flag.FlagSet does not say about a flag.
type Hint struct {
	Arg        string
	Values     []string
	Complete   Completion
	ValuesFrom string
}

// FlagsOf describes the flags of fs in name order. The argument's name
// comes from the hint, else from a back-quoted word in the usage, else from
// the value's type (flag.UnquoteUsage); a default that is the type's zero
// value is left out.
func FlagsOf(fs *flag.FlagSet, hints map[string]Hint) []Flag {
	var out []Flag
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		fl := Flag{Name: f.Name, Usage: usage, Default: f.DefValue}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			arg = ""
		} else {
			if arg == "" {
				arg = "value"
			}
			arg = strings.ToUpper(arg)
		}
		if r, ok := f.Value.(Repeatable); ok && r.Repeatable() {
			fl.Repeatable = true
		}
		if h, ok := hints[f.Name]; ok {
			if h.Arg != "" {
				arg = h.Arg
			}
			fl.Values, fl.Complete, fl.ValuesFrom = slices.Clone(h.Values), h.Complete, h.ValuesFrom
		}
		fl.Arg = arg
		switch fl.Default {
		case "", "0", "0s", "false", "[]":
			fl.Default = ""
		}
		out = append(out, fl)
	})
	return out
}
