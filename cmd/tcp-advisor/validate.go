package main

import (
	"fmt"
	"io"

	"github.com/tcp-advisor/tcp-advisor/policies"
)

func runValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("name one or more policy files or directories")
	}
	set, diags := policies.Load(fs.Args()...)
	policies.FormatDiagnostics(stderr, diags)
	if diags.HasErrors() {
		return exitError{code: 1}
	}
	fmt.Fprintf(stdout, "ok: %s\n", set.Describe())
	for _, f := range set.Files {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	return nil
}
