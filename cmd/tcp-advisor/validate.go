package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/policies"
)

func runValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("name one or more policy files or directories")
	}
	set, diags := policies.Load(fs.Args()...)
	policies.FormatDiagnostics(stderr, diags)
	if diags.HasErrors() {
		return exitError{code: 1}
	}
	fmt.Fprintf(stdout, "ok: %s\n", set.Describe())
	writeSources(stdout, set)
	return nil
}

// writeSources lists the rules, disabled rules and guardrails of a set with
// the file and line each comes from.
func writeSources(w io.Writer, set *policies.Set) {
	fmt.Fprintln(w, "rules:")
	for _, r := range set.Rules {
		line := fmt.Sprintf("  %-26s %s", r.Name, policies.RangeString(r.Source))
		if r.Replaces != nil {
			line += " (replaces " + policies.RangeString(*r.Replaces) + ")"
		}
		fmt.Fprintln(w, line)
	}
	if len(set.Disabled) > 0 {
		fmt.Fprintln(w, "disabled:")
		for _, name := range slices.Sorted(maps.Keys(set.Disabled)) {
			fmt.Fprintf(w, "  %-26s %s\n", name, policies.RangeString(set.Disabled[name]))
		}
	}
	fmt.Fprintln(w, "guardrails:")
	for _, key := range slices.Sorted(maps.Keys(set.Guardrails)) {
		var srcs []string
		for _, r := range set.Guardrails[key].Sources {
			srcs = append(srcs, policies.RangeString(r))
		}
		fmt.Fprintf(w, "  %-30s %s\n", key, strings.Join(srcs, ", "))
	}
}
