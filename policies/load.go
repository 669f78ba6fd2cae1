package policies

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/tcp-advisor/tcp-advisor/advisor"
)

// Limits on what a policy file may hold, so that a broken or hostile file
// gets an error instead of exhausting the agent.
const (
	// maxFileSize bounds one policy file.
	maxFileSize = 1 << 20
	// maxFiles bounds the files of one set.
	maxFiles = 256
	// maxNesting bounds how deeply brackets, braces, parentheses and
	// template interpolations nest, unary ! and - operators in a row
	// included: the parser recurses on each level.
	maxNesting = 64
)

// ruleName is what a rule label may look like: it names the rule in plans,
// journal entries and metrics.
var ruleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// source is one policy file's name and content.
type source struct {
	name     string
	src      []byte
	embedded bool // one of the embedded defaults
}

// file is one parsed policy file.
type file struct {
	source
	blocks []*block // in declaration order
	locals *locals
}

// Load reads and validates policy files and directories (a directory
// contributes its *.hcl files in name order, skipping hidden files) and
// layers them on the embedded default policies. It needs no observation:
// syntax, schema, types, observation names, keys and literal values are
// all checked here, and every diagnostic carries the file, line and column.
// On errors the set is nil; warnings come with a usable set.
//
// Layering works like sysctl.d and systemd drop-ins: the defaults are the
// base layer and the files follow in order. A rule with a name already
// declared replaces that rule in place; `rule "NAME" { enabled = false }`
// turns it off; guardrails for one key merge and the tighter bound wins;
// agent attributes override earlier ones; `agent { defaults = false }` in
// any file drops the default layer, its agent settings and guardrails
// included. No paths means the defaults alone.
func Load(paths ...string) (*Set, hcl.Diagnostics) {
	srcs, diags := readSources(paths)
	if diags.HasErrors() {
		return nil, diags
	}
	set, more := load(defaultSources(), srcs)
	diags = append(diags, more...)
	if set != nil && len(set.Rules) == 0 {
		diags = append(diags, noRules(set))
	}
	return set, diags
}

// noRules warns about a set without rules: it observes and reports but
// never recommends or changes anything. The warning points at the first
// agent block, else at the start of the first file.
func noRules(set *Set) *hcl.Diagnostic {
	var subject hcl.Range
	if len(set.Settings.Sources) > 0 {
		subject = set.Settings.Sources[0]
	} else if len(set.Files) > 0 {
		start := hcl.Pos{Line: 1, Column: 1}
		subject = hcl.Range{Filename: set.Files[0], Start: start, End: start}
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "No rules",
		Detail: fmt.Sprintf("The policy set (%s) has no rule in force: tcp-advisor will observe but never recommend or change anything. "+
			"The default rules apply unless an agent block says defaults = false or a rule block disables them.",
			strings.Join(set.Files, ", ")),
		Subject: subject.Ptr(),
	}
}

// Validate checks policy files and directories as Load does and returns
// only the diagnostics: what `tcp-advisor validate` reports.
func Validate(paths ...string) hcl.Diagnostics {
	_, diags := Load(paths...)
	return diags
}

// readSources reads the named files and the *.hcl files of the named
// directories, each file once.
func readSources(paths []string) ([]source, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var out []source
	seen := map[string]bool{}
	add := func(name string) {
		abs, err := filepath.Abs(name)
		if err == nil {
			if seen[abs] {
				return
			}
			seen[abs] = true
		}
		if len(out) >= maxFiles {
			diags = append(diags, fileError(name, "Too many policy files", fmt.Sprintf("A policy set holds at most %d files.", maxFiles)))
			return
		}
		src, err := readLimited(name)
		if err != nil {
			diags = append(diags, fileError(name, "Cannot read policy file", err.Error()))
			return
		}
		out = append(out, source{name: name, src: src})
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			diags = append(diags, fileError(p, "Cannot read policy path", err.Error()))
			continue
		}
		if !fi.IsDir() {
			add(p)
			continue
		}
		files, err := dirPolicyFiles(p)
		if err != nil {
			diags = append(diags, fileError(p, "Cannot read policy directory", err.Error()))
			continue
		}
		for _, f := range files {
			add(f)
		}
	}
	return out, diags
}

// readLimited reads a file of at most maxFileSize bytes.
func readLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("the file is larger than %d KiB, more than any policy needs", maxFileSize>>10)
	}
	return b, nil
}

// dirPolicyFiles lists the policy files of a directory: its *.hcl files in
// name order, leaving out hidden files (editor locks and backups such as
// ".#10-ports.hcl") and subdirectories.
func dirPolicyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".hcl") {
			continue
		}
		out = append(out, filepath.Join(dir, name))
	}
	return out, nil
}

func fileError(name, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &hcl.Range{Filename: name}}
}

// loader holds the state of one load: a fresh parser (it caches files by
// name, so a reload must not reuse one) and what the files declared so far.
type loader struct {
	parser *hclparse.Parser
	set    *Set
	diags  hcl.Diagnostics
	// ruleAt indexes set.Rules by name.
	ruleAt map[string]int
	// staticFunctions is the set's function library for load-time checks.
	staticFunctions map[string]function.Function
}

func load(defaults, operator []source) (*Set, hcl.Diagnostics) {
	l := &loader{
		parser: hclparse.NewParser(),
		set:    &Set{Settings: DefaultSettings(), Guardrails: map[string]Guardrail{}, Disabled: map[string]hcl.Range{}},
		ruleAt: map[string]int{},
	}
	l.staticFunctions = l.set.staticFunctions()
	ops := l.parse(operator)
	files := ops
	if l.defaultsWanted(ops) {
		files = append(l.parse(defaults), ops...)
	}
	for _, f := range files {
		l.set.Files = append(l.set.Files, f.name)
		l.set.sources = append(l.set.sources, f.source)
		f.locals = l.locals(f)
		for _, b := range f.blocks {
			switch b.Type {
			case "agent":
				l.agent(b)
			case "guardrail":
				l.guardrail(b)
			}
		}
	}
	for _, f := range files {
		declared := map[string]hcl.Range{}
		for _, b := range f.blocks {
			if b.Type == "rule" {
				l.rule(f, b, declared)
			}
		}
	}
	if l.diags.HasErrors() {
		return nil, l.diags
	}
	return l.set, l.diags
}

// parse parses sources; a file that does not parse is reported and left
// out.
func (l *loader) parse(srcs []source) []*file {
	var out []*file
	for _, s := range srcs {
		if d := checkNesting(s.src, s.name); d != nil {
			l.diags = append(l.diags, d)
			continue
		}
		f, diags := l.parser.ParseHCL(s.src, s.name)
		l.diags = append(l.diags, diags...)
		if f == nil || diags.HasErrors() {
			continue
		}
		var pf policyFile
		l.diags = append(l.diags, gohcl.DecodeBody(f.Body, nil, &pf)...)
		out = append(out, &file{source: s, blocks: pf.blocks()})
	}
	return out
}

// defaultsWanted reads `defaults` from the operator's agent blocks, the
// last one that sets it winning.
func (l *loader) defaultsWanted(ops []*file) bool {
	want := true
	for _, f := range ops {
		for _, b := range f.blocks {
			if b.Type != "agent" {
				continue
			}
			var ab agentBody
			_ = gohcl.DecodeBody(b.Body, nil, &ab) // agent reports them
			if a := ab.Defaults; a != nil {
				if v, ok := l.constant(a, cty.Bool); ok {
					want = v.True()
				}
			}
		}
	}
	return want
}

// diag reports a diagnostic of severity sev at subject.
func (l *loader) diag(sev hcl.DiagnosticSeverity, subject hcl.Range, summary, format string, args ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: sev,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
	})
}

// errorf reports an error at subject.
func (l *loader) errorf(subject hcl.Range, summary, format string, args ...any) {
	l.diag(hcl.DiagError, subject, summary, format, args...)
}

// constant evaluates an attribute that may not read the observation.
func (l *loader) constant(a *hcl.Attribute, want cty.Type) (cty.Value, bool) {
	v, diags := a.Expr.Value(nil)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	if v.IsNull() {
		l.errorf(a.Expr.Range(), "Invalid value", "%s must not be null.", a.Name)
		return cty.NilVal, false
	}
	if want == cty.DynamicPseudoType {
		return v, true
	}
	cv, err := convert.Convert(v, want)
	if err != nil {
		l.errorf(a.Expr.Range(), "Wrong type", "%s must be a %s: %s.", a.Name, want.FriendlyName(), err)
		return cty.NilVal, false
	}
	return cv, true
}

// constantInt evaluates an attribute holding a whole number.
func (l *loader) constantInt(a *hcl.Attribute) (int64, bool) {
	v, ok := l.constant(a, cty.Number)
	if !ok {
		return 0, false
	}
	n, err := intArg(v)
	if err != nil {
		l.errorf(a.Expr.Range(), "Wrong type", "%s must be a whole number: %s.", a.Name, err)
		return 0, false
	}
	return n, true
}

// rule decodes a rule block and layers it on the rules declared so far:
// declared holds the rules of this file, which may not repeat a name.
func (l *loader) rule(f *file, b *block, declared map[string]hcl.Range) {
	name, nameRange := b.Label, b.LabelRange
	if !ruleName.MatchString(name) {
		l.errorf(nameRange, "Invalid rule name",
			"Rule name %q must start with a letter or digit and hold only letters, digits, '-', '_' and '.'.", name)
		return
	}
	if prev, dup := declared[name]; dup {
		l.errorf(nameRange, "Duplicate rule", "Rule %q is already declared at %s; a file declares a rule once (a later file may replace it).", name, RangeString(prev))
		return
	}
	declared[name] = b.DefRange

	var c ruleBody
	diags := gohcl.DecodeBody(b.Body, nil, &c)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return
	}
	if a := c.Enabled; a != nil {
		v, ok := l.constant(a, cty.Bool)
		if !ok {
			return
		}
		if !v.True() {
			l.disable(name, b.DefRange)
			return
		}
	}
	r := &Rule{Name: name, Topic: name, Source: b.DefRange, file: f}
	if a := c.Topic; a != nil {
		if v, ok := l.constant(a, cty.String); ok {
			r.Topic = v.AsString()
		}
	}
	a := c.When
	if a == nil {
		l.errorf(b.DefRange, "Missing when", "Rule %q needs a when condition (or enabled = false to turn a rule off).", name)
		return
	}
	r.when = a.Expr
	if v, ok := l.check(f, a.Expr); ok {
		l.checkType(a, v, cty.Bool)
	}
	if a := c.Severity; a != nil {
		r.severity = a.Expr
		if v, ok := l.check(f, a.Expr); ok && l.checkType(a, v, cty.String) {
			if v, _ := convert.Convert(v, cty.String); v.IsKnown() {
				if err := checkSeverity(v.AsString()); err != nil {
					l.errorf(a.Expr.Range(), "Invalid severity", "%s.", err)
				}
			}
		}
	}
	for _, a := range []*hcl.Attribute{c.Message, c.Advice} {
		if a == nil {
			continue
		}
		if v, ok := l.check(f, a.Expr); ok {
			l.checkType(a, v, cty.String)
		}
	}
	if c.Message != nil {
		r.message = c.Message.Expr
	}
	if c.Advice != nil {
		r.advice = c.Advice.Expr
	}
	if r.message == nil && r.advice == nil {
		l.errorf(b.DefRange, "Missing message", "Rule %q needs a message, an advice, or both.", name)
	}
	l.sets(r, c.Sets)
	if i, ok := l.ruleAt[name]; ok {
		prev := l.set.Rules[i].Source
		r.Replaces = &prev
		l.set.Rules[i] = r
	} else {
		l.ruleAt[name] = len(l.set.Rules)
		l.set.Rules = append(l.set.Rules, r)
	}
	delete(l.set.Disabled, name)
}

// disable turns off a rule declared in an earlier layer.
func (l *loader) disable(name string, at hcl.Range) {
	i, ok := l.ruleAt[name]
	if !ok {
		l.diag(hcl.DiagWarning, at, "Rule disables nothing", "No earlier policy file declares rule %q, so enabled = false turns nothing off.", name)
		return
	}
	l.set.Rules = slices.Delete(l.set.Rules, i, i+1)
	delete(l.ruleAt, name)
	for n, j := range l.ruleAt {
		if j > i {
			l.ruleAt[n] = j - 1
		}
	}
	l.set.Disabled[name] = at
}

// sets decodes a rule's set blocks. Values known without an observation are
// checked against the registry: their shape and the bounds tcp-advisor
// never crosses. Policy guardrails are the guard's to apply, when a change
// is planned.
func (l *loader) sets(r *Rule, blocks []*keyed) {
	keyAt := map[string]hcl.Range{}
	for _, sb := range blocks {
		key, keyRange := sb.Key, sb.KeyRange
		if err := advisor.CheckSettable(key); err != nil {
			l.errorf(keyRange, "Key not allowed", "%s.", err)
			continue
		}
		if prev, dup := keyAt[key]; dup {
			l.errorf(keyRange, "Duplicate set", "Rule %q already sets %s at %s.", r.Name, key, RangeString(prev))
			continue
		}
		keyAt[key] = keyRange
		var sc setBody
		l.diags = append(l.diags, gohcl.DecodeBody(sb.Body, nil, &sc)...)
		a := sc.Value
		if a == nil {
			continue
		}
		r.sets = append(r.sets, setAction{key: key, value: a.Expr, rng: keyRange})
		r.Keys = append(r.Keys, key)
		v, ok := l.check(r.file, a.Expr)
		if !ok || !v.IsWhollyKnown() {
			continue
		}
		s, err := valueString(v)
		if err == nil {
			k, _ := builtInBounds(key, l.set.Guardrails[key].AllowPrivilegedLow)
			err = k.Check(s)
		}
		if err != nil {
			l.errorf(a.Expr.Range(), "Invalid value", "The value of %s: %s.", key, err)
		}
	}
}

// check verifies every observation and local an expression names and
// evaluates it against unknown observations, which type-checks it: the
// result is known only when the expression does not depend on the
// observation.
func (l *loader) check(f *file, expr hcl.Expression) (cty.Value, bool) {
	ok := true
	for _, tr := range expr.Variables() {
		if d := f.locals.checkTraversal(tr); d != nil {
			l.diags = append(l.diags, d)
			ok = false
		}
	}
	if !ok {
		return cty.NilVal, false
	}
	v, diags := expr.Value(f.locals.staticContext)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	return v, true
}

// checkType reports whether v, the static value of attribute a, can be a
// want; it reports an error when it cannot.
func (l *loader) checkType(a *hcl.Attribute, v cty.Value, want cty.Type) bool {
	if v.IsKnown() && v.IsNull() {
		l.errorf(a.Expr.Range(), "Invalid value", "%s must not be null.", a.Name)
		return false
	}
	if _, err := convert.Convert(v, want); err != nil {
		l.errorf(a.Expr.Range(), "Wrong type", "%s must be a %s, but this expression is a %s.",
			a.Name, want.FriendlyName(), v.Type().FriendlyName())
		return false
	}
	return true
}

// checkSeverity reports whether s is a severity a rule may have.
func checkSeverity(s string) error {
	switch advisor.Severity(s) {
	case advisor.SeverityInfo, advisor.SeverityWarning, advisor.SeverityCritical:
		return nil
	}
	return fmt.Errorf("severity %q: want %q, %q or %q", s, advisor.SeverityInfo, advisor.SeverityWarning, advisor.SeverityCritical)
}

// checkObservation checks a variable reference against the observation
// schema and returns a diagnostic for a name that does not exist.
func checkObservation(tr hcl.Traversal) *hcl.Diagnostic {
	root := tr.RootName()
	t, ok := variableTypes[root]
	if !ok {
		names := make([]string, 0, len(variableTypes)+1)
		for n := range variableTypes {
			names = append(names, n)
		}
		names = append(names, "local")
		sort.Strings(names)
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown variable",
			Detail:   fmt.Sprintf("There is no observation named %q%s. The observations are: %s.", root, suggest(root, names), strings.Join(names, ", ")),
			Subject:  tr[0].SourceRange().Ptr(),
		}
	}
	return checkAttributes(root, t, tr[1:])
}

// checkAttributes follows a traversal through a type and reports the first
// attribute that does not exist.
func checkAttributes(path string, t cty.Type, steps hcl.Traversal) *hcl.Diagnostic {
	for _, step := range steps {
		var name string
		switch s := step.(type) {
		case hcl.TraverseAttr:
			if !t.IsObjectType() {
				return nil // HCL's own evaluation reports it
			}
			name = s.Name
		case hcl.TraverseIndex:
			switch {
			case t.IsListType():
				t = t.ElementType()
				path += "[…]"
				continue
			case t.IsObjectType() && s.Key.Type() == cty.String && s.Key.IsKnown() && !s.Key.IsNull():
				name = s.Key.AsString()
			default:
				return nil
			}
		default:
			return nil
		}
		if !t.HasAttribute(name) {
			attrs := make([]string, 0, len(t.AttributeTypes()))
			for n := range t.AttributeTypes() {
				attrs = append(attrs, n)
			}
			sort.Strings(attrs)
			return &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown variable",
				Detail:   fmt.Sprintf("%s has no attribute %q%s. Its attributes are: %s.", path, name, suggest(name, attrs), strings.Join(attrs, ", ")),
				Subject:  step.SourceRange().Ptr(),
			}
		}
		t = t.AttributeType(name)
		path += "." + name
	}
	return nil
}

// suggest returns ` (did you mean "x"?)` for the closest of names, if close.
func suggest(given string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(strings.ToLower(given), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
