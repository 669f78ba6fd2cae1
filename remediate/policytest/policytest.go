// Package policytest runs policy tests: HCL files (NAME.hcltest) beside
// the policies, each test naming a recording, a moment in it and the
// outcome the policies must reach there — the plan's level, its changes
// with their values, its refusals and its advice. A test replays the
// recording through the same analysis, policies and guardrails as the
// agent, so a changed threshold shows which recorded incidents change
// outcome before the policy ships. `tcp-advisor test` is its command.
package policytest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/tcp-advisor/tcp-advisor/advisor/record"
)

// Suffix ends a test file's name. It is not .hcl, so that a policy
// directory's tests are never loaded as policies, nor picked up by the
// *.hcl globs of packages, config management and the policy checksum.
const Suffix = ".hcltest"

// Test is one test block.
type Test struct {
	Name string
	// File and Range locate the block.
	File  string
	Range hcl.Range
	// Recording is the recording's path, resolved against the file's
	// directory; At the offset from its start, negative for its last
	// frame; Netns picks the series (by name or inode) of a recording
	// with several.
	Recording string
	At        time.Duration
	Netns     string
	Expect    Expectation
}

// Expectation is the outcome a test expects. The plan must hold exactly
// the changes, refusals and advice listed (none listed: none expected);
// the attributes a block leaves out are not compared.
type Expectation struct {
	Level   *string
	Changes []Expected
	Refused []Expected
	Advice  []Expected
}

// Expected is one change, refusal or advice the plan must hold: its label
// (the key, or the rule for advice) and the attributes to compare.
type Expected struct {
	Label string
	Attrs map[string]string
	// Contains are texts the advice's message, or the change's or
	// refusal's reason, must hold.
	Contains []string
}

var (
	fileSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "test", LabelNames: []string{"name"}}}}
	testSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "recording", Required: true}, {Name: "at"}, {Name: "netns"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "expect"}},
	}
	expectSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "level"}},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "change", LabelNames: []string{"key"}},
			{Type: "refused", LabelNames: []string{"key"}},
			{Type: "advice", LabelNames: []string{"rule"}},
		},
	}
	// The attributes each kind of expected block may compare.
	blockAttrs = map[string][]string{
		"change":  {"rule", "from", "to", "severity", "contains"},
		"refused": {"rule", "to", "guardrail", "severity", "contains"},
		"advice":  {"severity", "contains"},
	}
	levels = []string{"ok", "info", "warning", "critical"}
)

// Find returns the test files paths name: files as given, directories'
// *.hcltest files in name order.
func Find(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), Suffix) && !strings.HasPrefix(e.Name(), ".") {
				out = append(out, filepath.Join(p, e.Name()))
			}
		}
	}
	return out, nil
}

// Load parses a test file. Every diagnostic carries file:line:column.
func Load(path string) ([]Test, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read test file", Detail: err.Error(), Subject: &hcl.Range{Filename: path}}}
	}
	f, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		return nil, diags
	}
	content, more := f.Body.Content(fileSchema)
	diags = append(diags, more...)
	var out []Test
	seen := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		t, more := decodeTest(path, b)
		diags = append(diags, more...)
		if prev, dup := seen[t.Name]; dup {
			diags = append(diags, errorAt(b.LabelRanges[0], "Duplicate test", fmt.Sprintf("A test named %q is already declared at %s.", t.Name, prev)))
		}
		seen[t.Name] = b.DefRange
		out = append(out, t)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return out, diags
}

func errorAt(r hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: r.Ptr()}
}

func decodeTest(path string, b *hcl.Block) (Test, hcl.Diagnostics) {
	t := Test{Name: b.Labels[0], File: path, Range: b.DefRange, At: -1}
	content, diags := b.Body.Content(testSchema)
	if a, ok := content.Attributes["recording"]; ok {
		if v, d := stringAttr(a); d != nil {
			diags = append(diags, d)
		} else {
			t.Recording = v
			if !filepath.IsAbs(v) {
				t.Recording = filepath.Join(filepath.Dir(path), v)
			}
		}
	}
	if a, ok := content.Attributes["at"]; ok {
		v, d := stringAttr(a)
		switch {
		case d != nil:
			diags = append(diags, d)
		case v == "last":
		default:
			at, err := time.ParseDuration(v)
			if err != nil || at < 0 {
				diags = append(diags, errorAt(a.Expr.Range(), "Invalid moment", fmt.Sprintf("at = %q: want an offset from the recording's start such as \"90s\", or \"last\".", v)))
			}
			t.At = at
		}
	}
	if a, ok := content.Attributes["netns"]; ok {
		v, d := stringAttr(a)
		if d != nil {
			diags = append(diags, d)
		}
		t.Netns = v
	}
	switch n := len(content.Blocks); {
	case n == 0:
		diags = append(diags, errorAt(b.DefRange, "Missing expect block", "A test says what it expects in one expect block; an empty one expects a plan without changes, refusals or advice."))
	case n > 1:
		diags = append(diags, errorAt(content.Blocks[1].DefRange, "Duplicate expect block", "A test has one expect block."))
	default:
		var more hcl.Diagnostics
		t.Expect, more = decodeExpect(content.Blocks[0])
		diags = append(diags, more...)
	}
	return t, diags
}

func decodeExpect(b *hcl.Block) (Expectation, hcl.Diagnostics) {
	var e Expectation
	content, diags := b.Body.Content(expectSchema)
	if a, ok := content.Attributes["level"]; ok {
		v, d := stringAttr(a)
		switch {
		case d != nil:
			diags = append(diags, d)
		case !slices.Contains(levels, v):
			diags = append(diags, errorAt(a.Expr.Range(), "Invalid level", fmt.Sprintf("level = %q: want one of %s.", v, strings.Join(levels, ", "))))
		default:
			e.Level = &v
		}
	}
	for _, blk := range content.Blocks {
		x, more := decodeExpected(blk)
		diags = append(diags, more...)
		switch blk.Type {
		case "change":
			e.Changes = append(e.Changes, x)
		case "refused":
			e.Refused = append(e.Refused, x)
		case "advice":
			e.Advice = append(e.Advice, x)
		}
	}
	return e, diags
}

func decodeExpected(b *hcl.Block) (Expected, hcl.Diagnostics) {
	x := Expected{Label: b.Labels[0], Attrs: map[string]string{}}
	var schema hcl.BodySchema
	for _, n := range blockAttrs[b.Type] {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: n})
	}
	content, diags := b.Body.Content(&schema)
	for name, a := range content.Attributes {
		if name == "contains" {
			v, d := a.Expr.Value(nil)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			switch {
			case v.Type() == cty.String && v.IsKnown() && !v.IsNull():
				x.Contains = append(x.Contains, v.AsString())
			case (v.Type().IsTupleType() || v.Type().IsListType()) && v.IsKnown() && !v.IsNull():
				for it := v.ElementIterator(); it.Next(); {
					_, e := it.Element()
					if e.Type() != cty.String || e.IsNull() {
						diags = append(diags, errorAt(a.Expr.Range(), "Invalid contains", "contains is a string or a list of strings."))
						break
					}
					x.Contains = append(x.Contains, e.AsString())
				}
			default:
				diags = append(diags, errorAt(a.Expr.Range(), "Invalid contains", "contains is a string or a list of strings."))
			}
			continue
		}
		v, d := stringAttr(a)
		if d != nil {
			diags = append(diags, d)
			continue
		}
		x.Attrs[name] = v
	}
	return x, diags
}

// stringAttr evaluates a constant string (a number is taken as written).
func stringAttr(a *hcl.Attribute) (string, *hcl.Diagnostic) {
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return "", diags[0]
	}
	switch {
	case v.IsNull() || !v.IsKnown():
	case v.Type() == cty.String:
		return v.AsString(), nil
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('f', -1), nil
	case v.Type() == cty.Bool:
		return strconv.FormatBool(v.True()), nil
	}
	return "", errorAt(a.Expr.Range(), "Invalid value", fmt.Sprintf("%s is a string.", a.Name))
}

// series picks the series the test names.
func (t Test) series(rec *record.Recording) (record.Series, error) {
	if t.Netns == "" {
		if len(rec.Series) != 1 {
			return record.Series{}, fmt.Errorf("the recording holds %d namespaces: say which with netns = NAME or INODE", len(rec.Series))
		}
		return rec.Series[0], nil
	}
	for _, s := range rec.Series {
		if s.Netns.Name == t.Netns || strconv.FormatUint(s.Netns.Inode, 10) == t.Netns {
			return s, nil
		}
	}
	return record.Series{}, fmt.Errorf("the recording holds no namespace %q", t.Netns)
}
