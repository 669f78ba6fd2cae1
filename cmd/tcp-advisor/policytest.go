package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tcp-advisor/tcp-advisor/advisor/record"
	"github.com/tcp-advisor/tcp-advisor/cmd/internal/report"
	"github.com/tcp-advisor/tcp-advisor/policies"
	"github.com/tcp-advisor/tcp-advisor/remediate/policytest"
)

func runPolicyTests(args []string, stdout, stderr io.Writer) error {
	flags := newFlags("test")
	var policyPaths pathList
	flags.Var(&policyPaths, "policy", "policy file or directory to test (repeatable; default: the *.hcl files beside each test file), layered on the embedded defaults")
	update := flags.Bool("update", false, "rewrite each test's expect block to the outcome the policies reach now (review the diff before committing it)")
	verbose := flags.Bool("v", false, "also list the tests that pass")
	run := flags.String("run", "", "run only the tests whose name matches this regular expression")
	var match *regexp.Regexp
	if err := parseFlags(flags, args, func() error {
		var err error
		if match, err = regexp.Compile(*run); err != nil {
			return usagef("--run: %v", err)
		}
		return nil
	}); err != nil {
		return err
	}
	targets := flags.Args()
	if len(targets) == 0 {
		targets = []string{"."}
	}
	files, err := policytest.Find(targets)
	if errors.Is(err, fs.ErrNotExist) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no policy tests (*%s) in %s", policytest.Suffix, strings.Join(targets, " "))
	}
	sets := map[string]*policies.Set{}
	cache := map[string]*record.Recording{}
	passed, failed := 0, 0
	for _, file := range files {
		tests, diags := policytest.Load(file)
		if diags.HasErrors() {
			policies.FormatDiagnostics(stderr, diags)
			report.WritePolicyFileFailed(stdout, file, nil)
			failed++
			continue
		}
		// The policies under test: --policy, else those beside the file.
		paths := policyPaths
		if len(paths) == 0 {
			paths = []string{filepath.Dir(file)}
		}
		key := strings.Join(paths, "\x00")
		set, ok := sets[key]
		if !ok {
			if set, err = loadPolicies(paths, stderr); err != nil {
				report.WritePolicyFileFailed(stdout, file, err)
				failed += len(tests)
				sets[key] = nil
				continue
			}
			sets[key] = set
		}
		if set == nil {
			failed += len(tests)
			continue
		}
		var results []policytest.Result
		for i := range tests {
			t := &tests[i]
			if !match.MatchString(t.Name) {
				continue
			}
			r := policytest.Run(t, set, cache)
			results = append(results, r)
			switch {
			case r.Passed():
				passed++
				if *verbose {
					report.WritePolicyTest(stdout, t, r, report.PolicyTestPassed)
				}
			case *update && r.Err == nil:
				passed++
				report.WritePolicyTest(stdout, t, r, report.PolicyTestUpdated)
			default:
				failed++
				report.WritePolicyTest(stdout, t, r, report.PolicyTestFailed)
			}
		}
		if *update {
			if err := policytest.Update(file, results); err != nil {
				return err
			}
		}
	}
	report.WritePolicyTestSummary(stdout, passed, failed)
	if failed > 0 {
		return exitError{code: 1}
	}
	return nil
}
